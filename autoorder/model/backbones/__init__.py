"""Built-in backbones. Importing this package registers them.

- `tiny_cnn`: a small CNN for tests and the demo.
- `mobilenet_v2`, `mobilenet_v3_small`, `mobilenet_v3_large`, `efficientnet_b0`,
  `efficientnet_v2_b0`, `resnet50`: `keras.applications` architectures as flat models.
- `keras_file`: any saved `.keras` model.
"""

from autoorder.model.backbones.applications import (
    ARCHITECTURES,
    ApplicationBackbone,
    Architecture,
    backbone_weights_file,
    imagenet_cache_dir,
    resolve_weights,
)
from autoorder.model.backbones import keras_file, tiny_cnn  # noqa: E402,F401  (register)

__all__ = [
    "ARCHITECTURES",
    "ApplicationBackbone",
    "Architecture",
    "backbone_weights_file",
    "imagenet_cache_dir",
    "resolve_weights",
]
