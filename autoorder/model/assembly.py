"""Model assembly: a trunk (what of the backbone trains) and a head (pool, order encoding, dense).

The same head object serves two graphs: the training graph, fed by cached activations at a
cut, and the exported graph, fed by raw pixels through the whole backbone. Both share layer
objects, so what one trains the other holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras

IMAGE_INPUT = "image"
ORDER_INPUT = "order"
FEATURES_INPUT = "features"


@dataclass(frozen=True)
class HeadSpec:
    num_classes: int
    order_vocabulary: tuple[int, ...]
    depth: int
    width: int
    dropout: float


def pool(x: Any) -> Any:
    """Reduce a feature map to a vector (no parameters, so caching after it changes nothing)."""
    if len(x.shape) == 4:
        return keras.layers.GlobalAveragePooling2D(name="pool")(x)
    if len(x.shape) > 2:
        return keras.layers.Flatten(name="flatten")(x)
    return x


def build_head(feature_shape: tuple, spec: HeadSpec, encoding: Any, hp: Any) -> keras.Model:
    """Pooled features (a vector) + order (int) -> class probabilities."""
    feats = keras.Input(feature_shape, name=FEATURES_INPUT)
    order = keras.Input((), dtype="int32", name=ORDER_INPUT)
    x = feats
    if getattr(encoding, "uses_order", True):
        # Statistics of the order come from the training split only; anything else is bucket 0.
        index = keras.layers.IntegerLookup(
            vocabulary=list(spec.order_vocabulary), num_oov_indices=1, name="order_lookup"
        )(order)
        x = encoding.build(x, index, len(spec.order_vocabulary) + 1, hp)
    for i in range(spec.depth):
        if spec.dropout:
            x = keras.layers.Dropout(spec.dropout, name=f"head_dropout_{i}")(x)
        x = keras.layers.Dense(spec.width, activation="relu", name=f"head_dense_{i}")(x)
    if spec.dropout:
        x = keras.layers.Dropout(spec.dropout, name="head_dropout_out")(x)
    probs = keras.layers.Dense(spec.num_classes, activation="softmax", name="probs")(x)
    return keras.Model({FEATURES_INPUT: feats, ORDER_INPUT: order}, probs, name="head")


def build_training_model(trunk: keras.Model | None, input_shape: tuple, head: keras.Model) -> keras.Model:
    """Inputs `features` (what the trunk eats) and `order`; the trunk may be None (frozen)."""
    inp = keras.Input(input_shape, name=FEATURES_INPUT)
    order = keras.Input((), dtype="int32", name=ORDER_INPUT)
    feats = pool(trunk(inp) if trunk is not None else inp)
    probs = head({FEATURES_INPUT: feats, ORDER_INPUT: order})
    return keras.Model({FEATURES_INPUT: inp, ORDER_INPUT: order}, probs, name="trainer")


def build_export_model(backbone: keras.Model, head: keras.Model, image_size: int) -> keras.Model:
    """The deliverable: inputs `image` (pixels 0..255) and `order` (int) -> probabilities."""
    image = keras.Input((image_size, image_size, 3), name=IMAGE_INPUT)
    order = keras.Input((), dtype="int32", name=ORDER_INPUT)
    feats = pool(backbone(image))
    probs = head({FEATURES_INPUT: feats, ORDER_INPUT: order})
    return keras.Model({IMAGE_INPUT: image, ORDER_INPUT: order}, probs, name="autoorder")


def freeze_batchnorm(model: keras.Model) -> None:
    """Keep pretrained BatchNorm statistics: in Keras 3 a non-trainable BN runs in inference mode."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
        elif isinstance(layer, keras.Model):
            freeze_batchnorm(layer)
