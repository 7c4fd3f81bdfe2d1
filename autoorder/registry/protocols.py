"""The shapes of plugins. Documentation for authors; nothing needs to inherit from these.

A plugin is accepted for what it does: `autoorder.testing.check_backbone` and
`check_encoding` verify an object against these shapes and say exactly what is missing.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Backbone(Protocol):
    """A feature extractor.

    Attributes:
        name: registry name, used in configs (`space.backbones`).
        default_image_size: side in pixels the backbone was designed for.
        params: optional, the parameter count of a build; `autoorder plugins list` shows it
            instead of building the backbone to count (worth it for large backbones).
    """

    name: str
    default_image_size: int

    def build(self, image_size: int, weights: str | None) -> Any:
        """Return a functional `keras.Model`.

        Input: (image_size, image_size, 3) float32 RGB pixels in [0, 255]; the model holds its
        own preprocessing. Output: a feature map (H, W, C) or a vector (C,).
        `weights` is "imagenet", None (random init) or a path to a weights file.
        """
        ...

    def freeze_points(self) -> list[str]:
        """Names of layers, shallow to deep, whose output is a clean cut of the graph.

        A clean cut is a tensor every path from input to output goes through (no skip
        connection crosses it). `none` and `all` are always available and are not listed.
        """
        ...


@runtime_checkable
class OrderEncoding(Protocol):
    """Turns the upload order of a photo into a conditioning of its image features.

    Attributes:
        name: registry name, used in configs (`space.order_encodings`).
        uses_order: False only for the image-only baseline (`none`).
    """

    name: str
    uses_order: bool

    def build(self, features: Any, order_index: Any, num_buckets: int, hp: Any) -> Any:
        """Return conditioned features (a rank-2 Keras tensor).

        Args:
            features: pooled image features, shape (batch, C).
            order_index: int tensor (batch,), 0 = unknown or missing order, 1..num_buckets-1
                the order values seen in the training split, in ascending order.
            num_buckets: number of distinct indices including the unknown bucket.
            hp: a `keras_tuner.HyperParameters` (already scoped to this encoding) for the
                encoding's own choices, such as an embedding size.
        """
        ...
