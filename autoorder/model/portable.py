"""The best model as a graph that model converters read: order lookups without hash tables.

Keras' `IntegerLookup` (the order -> index lookup of every order-aware head) runs on a
TensorFlow hash table, which tf2onnx cannot convert and which LiteRT runs only with the Flex
delegate (absent from `tf.lite.Interpreter` and from most devices). For export, each lookup is
replaced by `OrderIndex`, which computes the same index by comparing with the vocabulary; every
other layer is the model's own (same objects, same weights).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops


class OrderIndex(keras.layers.Layer):
    """`IntegerLookup(vocabulary, num_oov_indices=1, mask_token=None)`: vocabulary[i] -> i + 1, anything else -> 0."""

    def __init__(self, vocabulary: list[int], **kwargs: Any):
        super().__init__(**kwargs)
        self.vocabulary = [int(v) for v in vocabulary]

    def call(self, inputs: Any) -> Any:
        values = ops.expand_dims(ops.cast(inputs, "int64"), -1)
        vocabulary = ops.convert_to_tensor(np.array(self.vocabulary, dtype=np.int64))
        positions = ops.convert_to_tensor(np.arange(1, len(self.vocabulary) + 1, dtype=np.int64))
        hits = ops.equal(values, vocabulary)
        return ops.sum(ops.where(hits, positions, ops.zeros_like(positions)), axis=-1)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "vocabulary": self.vocabulary}


def _replaceable(layer: Any) -> bool:
    if not isinstance(layer, keras.layers.IntegerLookup):
        return False
    cfg = layer.get_config()
    return cfg.get("num_oov_indices") == 1 and cfg.get("mask_token") is None and cfg.get("output_mode") == "int" and not cfg.get("invert")


def portable(model: keras.Model) -> keras.Model:
    """A copy of `model` whose order lookups need no hash table (the same outputs, the same weights)."""

    def swap(layer: Any) -> Any:
        if _replaceable(layer):
            return OrderIndex(layer.get_vocabulary(include_special_tokens=False), name=layer.name)
        return layer

    clone = keras.models.clone_model(model, clone_function=swap, recursive=True)
    # Keras' ONNX export refuses a model that was never called; a clone never was.
    clone({t.name: np.zeros((1, *t.shape[1:]), dtype=t.dtype) for t in clone.inputs})
    return clone
