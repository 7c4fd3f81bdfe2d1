"""Built-in backbones from `keras.applications`, as flat functional models.

One table of per-architecture facts (`ARCHITECTURES`), one class (`ApplicationBackbone`).
`build(image_size, weights)` returns a flat model: input (image_size, image_size, 3) float32
RGB pixels in [0, 255], the architecture's own preprocessing as stock parameter-free layers,
then the application's layers as top-level layers (so cuts can name them), up to the last
feature map (include_top=False). Layer names do not depend on what else the process built.

Preprocessing, matching what each application's `preprocess_input` does:

- MobileNetV2: `Rescaling(1/127.5, offset=-1)` in front of the application.
- MobileNetV3, EfficientNet, EfficientNetV2: their built-in preprocessing layers.
- ResNet50 ("caffe": RGB->BGR, then ImageNet mean subtraction): `Rescaling` with a per-channel
  RGB offset, and the input channels of the first convolution's kernel reversed when weights
  are copied in, which computes exactly the same thing without a channel-flip layer.

`weights`:

- None: random initialisation (seeded upstream).
- a path: a weights file of the Keras application with include_top=False (`.h5` or
  `.weights.h5`), loaded by Keras' own loading into the standalone application, then copied
  layer by layer into the flat model.
- "imagenet": the file Keras itself would download, looked up in `$KERAS_HOME/models` (default
  `~/.keras/models`) and loaded from there without any network call; if absent, downloaded
  there (silently, with a timeout); if that fails, a `WeightsError` says which file to put
  where. A path whose file name is the ImageNet file's name counts as "imagenet" (this only
  matters for EfficientNet, whose ImageNet preprocessing has one more scaling).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np

from autoorder.core.errors import WeightsError, describe
from autoorder.model.weights import set_weights
from autoorder.registry.table import register_backbone

IMAGENET = "imagenet"
DOWNLOAD_TIMEOUT_S = 30.0  # per socket operation; offline, DNS fails at once anyway
INPUT_NAME = "pixels"
PREPROCESS_NAME = "preprocess"

# ImageNet statistics in RGB order (keras.applications.imagenet_utils).
CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)

_KERAS_BUCKET = "https://storage.googleapis.com/tensorflow/keras-applications/"
_MOBILENET_V2_SIZES = (96, 128, 160, 192, 224)


@dataclass(frozen=True)
class Architecture:
    """What autoorder needs to know about one `keras.applications` architecture.

    File names, URLs and MD5 hashes are those of keras/src/applications/*.py for
    include_top=False (Keras 3.15); `{rows}` in `weights_file` is the input size class
    (MobileNetV2 only).
    """

    name: str
    factory: str  # attribute of keras.applications
    preprocess: str  # "tf" (x / 127.5 - 1, added here), "builtin" (inside the application), "caffe"
    weights_file: str
    weights_dir_url: str
    md5: str | None
    freeze: tuple[str, ...]
    options: dict = field(default_factory=dict)  # extra keyword arguments of the factory
    default_image_size: int = 224

    def file_name(self, image_size: int | None = None) -> str:
        # MobileNetV2 has one ImageNet file per input size class; Keras picks 224 otherwise.
        rows = image_size if image_size in _MOBILENET_V2_SIZES else 224
        return self.weights_file.format(rows=rows)

    def url(self, image_size: int | None = None) -> str:
        return self.weights_dir_url + self.file_name(image_size)

    @property
    def application(self) -> Callable[..., keras.Model]:
        return getattr(keras.applications, self.factory)


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture(
            "mobilenet_v2",
            "MobileNetV2",
            "tf",
            "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{rows}_no_top.h5",
            _KERAS_BUCKET + "mobilenet_v2/",
            None,  # Keras publishes no hash for these files
            ("block_2_add", "block_5_add", "block_12_add", "block_15_add"),
        ),
        Architecture(
            "mobilenet_v3_small",
            "MobileNetV3Small",
            "builtin",
            "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
            _KERAS_BUCKET + "mobilenet_v3/",
            "d3e8ec802a04aa4fc771ee12a9a9b836",
            ("expanded_conv_2_add", "expanded_conv_5_add", "expanded_conv_7_add", "expanded_conv_10_add"),
            {"include_preprocessing": True},
        ),
        Architecture(
            "mobilenet_v3_large",
            "MobileNetV3Large",
            "builtin",
            "weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5",
            _KERAS_BUCKET + "mobilenet_v3/",
            "07fb09a5933dd0c8eaafa16978110389",
            ("expanded_conv_2_add", "expanded_conv_5_add", "expanded_conv_11_add", "expanded_conv_14_add"),
            {"include_preprocessing": True},
        ),
        Architecture(
            "efficientnet_b0",
            "EfficientNetB0",
            "builtin",
            "efficientnetb0_notop.h5",
            "https://storage.googleapis.com/keras-applications/",
            "50bc09e76180e00e4465e1a485ddc09d",
            ("block2b_add", "block3b_add", "block5c_add", "block6d_add"),
        ),
        Architecture(
            "efficientnet_v2_b0",
            "EfficientNetV2B0",
            "builtin",
            "efficientnetv2-b0_notop.h5",
            _KERAS_BUCKET + "efficientnet_v2/",
            "893217f2bb855e2983157299931e43ff",
            ("block2b_add", "block3b_add", "block5e_add", "block6h_add"),
            {"include_preprocessing": True},
        ),
        Architecture(
            "resnet50",
            "ResNet50",
            "caffe",
            "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
            _KERAS_BUCKET + "resnet/",
            "4d473c1dd8becc155b73f8504c6f6626",
            ("pool1_pool", "conv2_block3_out", "conv3_block4_out", "conv4_block6_out"),
        ),
    )
}


# Parameters of each flat backbone (include_top=False: the same at every image size), so that
# `autoorder plugins list` need not build ResNet50 and friends to count them. The backbone
# contract test counts them on a real build.
PARAMS = {
    "mobilenet_v2": 2_257_984,
    "mobilenet_v3_small": 939_120,
    "mobilenet_v3_large": 2_996_352,
    "efficientnet_b0": 4_049_571,
    "efficientnet_v2_b0": 5_919_312,
    "resnet50": 23_587_712,
}


# ----- weights files -------------------------------------------------------------------------
def imagenet_cache_dir() -> Path:
    """Where Keras keeps downloaded weights: `$KERAS_HOME/models`, else `~/.keras/models`.

    Read at call time (Keras reads KERAS_HOME once, at import).
    """
    home = os.environ.get("KERAS_HOME")
    if home:
        return Path(home).expanduser() / "models"
    user = Path("~").expanduser()
    base = user if os.access(user, os.W_OK) else Path("/tmp")  # as Keras does
    return base / ".keras" / "models"


def backbone_weights_file(name: str, image_size: int | None = None) -> str:
    """The file name Keras uses for the ImageNet weights of backbone `name` (include_top=False)."""
    if name not in ARCHITECTURES:
        raise WeightsError(
            f"The 'weights' parameter of backbone {name!r} must be null or the path of a weights file: "
            f"{name!r} has no ImageNet weights. Got 'imagenet' instead."
        )
    return ARCHITECTURES[name].file_name(image_size)


def _download(url: str, dest: Path, md5: str | None) -> None:
    """Fetch `url` to `dest` atomically, silently, with a socket timeout; check the MD5."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(part, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
        if md5 is not None:
            digest = hashlib.md5()
            with open(part, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
            if digest.hexdigest() != md5:
                raise ValueError(f"the downloaded file's MD5 is {digest.hexdigest()}, expected {md5}")
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)


def _short_reason(e: BaseException) -> str:
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code} {e.reason}"
    if isinstance(e, urllib.error.URLError):
        return f"{e.reason}"
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def _imagenet_path(arch: Architecture, image_size: int | None) -> Path:
    """The local ImageNet file: from the cache, else downloaded into it."""
    folder = imagenet_cache_dir()
    fname = arch.file_name(image_size)
    path = folder / fname
    if path.is_file():
        return path  # no hash check: Keras would re-download on a mismatch, and we may be offline
    try:
        _download(arch.url(image_size), path, arch.md5)
    except Exception as e:  # noqa: BLE001 - offline, HTTP error, disk: all end the same way
        raise WeightsError(
            f"ImageNet weights for backbone {arch.name!r} could not be downloaded ({_short_reason(e)}). "
            f"Download {arch.url(image_size)} on a machine that can, and put the file {fname} in {folder} "
            "(where Keras reads downloaded weights: $KERAS_HOME/models when KERAS_HOME is set, else ~/.keras/models). "
            "To work offline instead: space.weights: a path to a weights file you have; or space.weights: null with "
            "space.freeze: none (train the backbone from scratch); or the keras_file backbone with a model you trained "
            "(space.backbone_options.keras_file.path, see plugins/README.md)."
        ) from None
    return path


def resolve_weights(name: str, weights: Any, image_size: int | None = None) -> str | None:
    """Turn a `weights` value into None or the path of an existing local file.

    Args:
        name: backbone name (for messages, and to find its ImageNet file).
        weights: "imagenet", None, or a path (str or PathLike).
        image_size: input size (MobileNetV2's ImageNet file depends on it).

    Raises:
        WeightsError: a bad value, a missing file, or ImageNet weights that cannot be had.
    """
    if weights is None:
        return None
    if isinstance(weights, os.PathLike):
        weights = os.fspath(weights)
    if not isinstance(weights, str) or not weights.strip():
        raise WeightsError(
            f"The 'weights' parameter of backbone {name!r} must be 'imagenet', null or the path of a weights "
            f"file. Got {describe(weights)} instead."
        )
    if weights == IMAGENET:
        backbone_weights_file(name)  # raises for backbones without ImageNet weights
        return str(_imagenet_path(ARCHITECTURES[name], image_size))
    path = Path(weights).expanduser()
    if not path.is_file():
        raise WeightsError(
            f"The 'weights' parameter of backbone {name!r} must be 'imagenet', null or the path of an existing "
            f"weights file. Got {weights!r} instead, which does not exist (looked at {str(path.absolute())!r})."
        )
    return str(path)


# ----- flat models ---------------------------------------------------------------------------
def _snake(name: str) -> str:
    # The rule Keras uses to name layers after their class (ReLU -> re_lu).
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _stable_names(layers: list) -> None:
    """Rename auto-named layers and ops (`re_lu_37`) by their rank in this model (`re_lu_2`).

    Keras numbers unnamed layers (and ops such as `x + 3.0`) with a process-wide counter, so
    names (and the model's JSON) would depend on what was built before. Renaming before the
    final model is made keeps them reproducible, and identical between two builds.
    """

    def auto(layer: Any) -> bool:
        return re.fullmatch(rf"{re.escape(_snake(type(layer).__name__))}(_\d+)?", layer.name) is not None

    candidates = [layer for layer in layers if not isinstance(layer, keras.layers.InputLayer) and auto(layer)]
    taken = {layer.name for layer in layers if not any(layer is c for c in candidates)}
    counts: dict[str, int] = {}
    for layer in candidates:
        base = _snake(type(layer).__name__)
        while True:
            k = counts.get(base, 0)
            counts[base] = k + 1
            name = base if k == 0 else f"{base}_{k}"
            if name not in taken:
                break
        taken.add(name)
        layer.name = name


def _convert(arch: Architecture, imagenet: bool) -> Callable[[Any, list], list]:
    """Weights of the standalone application -> weights of the flat model, per layer."""

    def convert(layer: Any, weights: list) -> list:
        if arch.preprocess == "caffe" and layer.name == "conv1_conv":
            # The flat model feeds RGB where the application expects BGR: reverse the kernel's
            # input channels instead of the image's.
            return [weights[0][:, :, ::-1, :], *weights[1:]]
        if imagenet and arch.name == "efficientnet_b0" and isinstance(layer, keras.layers.Normalization):
            # With ImageNet weights Keras adds Rescaling(1 / sqrt(std)) after this layer; fold it
            # into the variance so the graph does not depend on the weights.
            mean, variance, *rest = weights
            return [mean, variance * np.asarray(IMAGENET_STD_RGB, variance.dtype), *rest]
        return weights

    return convert


def _copy_weights(src: keras.Model, dst: keras.Model, convert: Callable[[Any, list], list]) -> None:
    targets = {layer.name: layer for layer in dst.layers}
    for layer in src.layers:
        weights = layer.get_weights()
        if weights:
            set_weights(targets[layer.name], convert(layer, weights))


class ApplicationBackbone:
    """A `keras.applications` architecture as an autoorder backbone."""

    def __init__(self, arch: Architecture):
        self.arch = arch
        self.name = arch.name
        self.default_image_size = arch.default_image_size
        self.params = PARAMS.get(arch.name)  # optional plugin attribute: counted without a build

    def __repr__(self) -> str:
        return f"ApplicationBackbone({self.name!r})"

    def freeze_points(self) -> list[str]:
        return list(self.arch.freeze)

    def weights_file(self, image_size: int | None = None) -> str:
        """The ImageNet file name Keras uses for this backbone."""
        return self.arch.file_name(image_size)

    def _application(self, **kwargs: Any) -> keras.Model:
        return self.arch.application(include_top=False, **self.arch.options, **kwargs)

    def _flat(self, image_size: int) -> keras.Model:
        inp = keras.Input((image_size, image_size, 3), name=INPUT_NAME)
        x = inp
        if self.arch.preprocess == "tf":
            x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name=PREPROCESS_NAME)(x)
        elif self.arch.preprocess == "caffe":
            x = keras.layers.Rescaling(1.0, offset=[-m for m in CAFFE_MEAN_RGB], name=PREPROCESS_NAME)(x)
        app = self._application(weights=None, input_tensor=x)
        _stable_names(app.operations)
        return keras.Model(inp, app.output, name=self.name)

    def _standalone(self, image_size: int, path: str, imagenet: bool) -> keras.Model:
        try:
            model = self._application(weights=path, input_shape=(image_size, image_size, 3))
        except Exception as e:  # noqa: BLE001 - h5py, shape and layer-count errors alike
            what = f"keras.applications.{self.arch.factory}(include_top=False)"
            if imagenet:
                raise WeightsError(
                    f"The ImageNet weights file {path} of backbone {self.name!r} cannot be loaded "
                    f"({_short_reason(e)}). It may be incomplete or for another model: replace it with "
                    f"{self.arch.url(image_size)}, or set weights: null."
                ) from None
            raise WeightsError(
                f"The weights file {path!r} cannot be loaded into backbone {self.name!r} ({_short_reason(e)}). "
                f"Expected weights of {what}, saved as .h5 or .weights.h5."
            ) from None
        _stable_names(model.operations)
        return model

    def build(self, image_size: int, weights: str | None = None) -> keras.Model:
        """A flat functional model over (image_size, image_size, 3) RGB pixels in [0, 255]."""
        path = resolve_weights(self.name, weights, image_size)
        model = self._flat(image_size)
        if path is not None:
            imagenet = weights == IMAGENET or Path(path).name == self.arch.file_name(image_size)
            standalone = self._standalone(image_size, path, imagenet)
            _copy_weights(standalone, model, _convert(self.arch, imagenet))
        return model


for _arch in ARCHITECTURES.values():
    register_backbone(ApplicationBackbone(_arch))
