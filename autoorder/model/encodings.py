"""Built-in order encodings: how the upload order conditions the image features.

Every encoding is built from stock Keras layers, so a saved model loads where only Keras is
installed. The engine maps raw order values to indices first (0 = unknown; 1..K the values
seen in the training split), so encodings never see raw values.
"""

from __future__ import annotations

from typing import Any

import keras

from autoorder.registry.table import register_encoding


def _embed(order_index: Any, num_buckets: int, dim: int, name: str) -> Any:
    return keras.layers.Embedding(num_buckets, dim, name=f"{name}_embedding")(order_index)


@register_encoding
class NoEncoding:
    """Image-only baseline: the order is ignored."""

    name = "none"
    uses_order = False

    def build(self, features, order_index, num_buckets, hp):
        return features


@register_encoding
class ScalarEncoding:
    """The order index as one number in [0, 1] appended to the features (0 = unknown)."""

    name = "scalar"
    uses_order = True

    def build(self, features, order_index, num_buckets, hp):
        scale = max(num_buckets - 1, 1)
        # A frozen one-column embedding is the stock, cast-free form of index / scale.
        table = keras.initializers.Constant([[i / scale] for i in range(num_buckets)])
        value = keras.layers.Embedding(
            num_buckets, 1, embeddings_initializer=table, trainable=False, name="order_scalar"
        )(order_index)
        return keras.layers.Concatenate(name="order_concat")([features, value])


@register_encoding
class OneHotEncoding:
    """One-hot order (unknown has its own slot) appended to the features."""

    name = "onehot"
    uses_order = True

    def build(self, features, order_index, num_buckets, hp):
        onehot = keras.layers.CategoryEncoding(num_buckets, output_mode="one_hot", name="order_onehot")(order_index)
        return keras.layers.Concatenate(name="order_concat")([features, onehot])


@register_encoding
class EmbeddingEncoding:
    """A learned embedding of the order appended to the features."""

    name = "embedding"
    uses_order = True

    def build(self, features, order_index, num_buckets, hp):
        dim = hp.Choice("dim", [4, 16])
        emb = _embed(order_index, num_buckets, dim, "order")
        return keras.layers.Concatenate(name="order_concat")([features, emb])


@register_encoding
class FiLMEncoding:
    """Feature-wise linear modulation: features * gamma(order) + beta(order).

    Starts as the identity (gamma = 1, beta = 0), so training begins from the image-only model.
    """

    name = "film"
    uses_order = True

    def build(self, features, order_index, num_buckets, hp):
        channels = features.shape[-1]
        emb = _embed(order_index, num_buckets, 8, "order")
        gamma = keras.layers.Dense(channels, kernel_initializer="zeros", bias_initializer="ones", name="film_gamma")(emb)
        beta = keras.layers.Dense(channels, kernel_initializer="zeros", name="film_beta")(emb)
        scaled = keras.layers.Multiply(name="film_scale")([features, gamma])
        return keras.layers.Add(name="film_shift")([scaled, beta])


@register_encoding
class GateEncoding:
    """Sigmoid gating: each image feature is scaled by a gate in (0, 1) chosen by the order."""

    name = "gate"
    uses_order = True

    def build(self, features, order_index, num_buckets, hp):
        channels = features.shape[-1]
        emb = _embed(order_index, num_buckets, 8, "order")
        gate = keras.layers.Dense(
            channels, activation="sigmoid", kernel_initializer="zeros", bias_initializer=keras.initializers.Constant(2.0),
            name="gate",
        )(emb)
        return keras.layers.Multiply(name="gate_apply")([features, gate])
