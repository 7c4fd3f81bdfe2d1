"""`keras_file`: any saved `.keras` model used as a backbone (transfer learning without a download).

```yaml
space:
  backbones: [keras_file]
  backbone_options:
    keras_file:
      path: ../runs/previous/best_model.keras     # relative to the config's folder
      # output_layer: global_average_pooling2d   # plain models: the feature layer
      # freeze_points: [block_2, block_4]        # default: found from the graph
```

Two kinds of file work:

- an autoorder `best_model.keras` (inputs `image` and `order`): its image path is used, i.e.
  the output of the nested backbone sub-model the `image` input feeds; the head is dropped;
- a plain single-input image model: the feature layer is `output_layer`, or by default the
  input of the final Dense layer when the model ends with a classifier, else its output.

The model must take RGB pixels in [0, 255] and hold its own preprocessing (autoorder models
do). `build(image_size, weights)` returns a fresh, flat functional model (nested sub-models
inlined, so every layer is a possible cut point) with the file's weights; when `image_size`
differs from the file's input size a fully convolutional model is rebuilt at the new size.

`weights`: None (and "imagenet", which has no other meaning here) mean the file's own weights;
a path to a `.weights.h5` file is loaded on top of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras

from autoorder.compat.keras import functional_graph, inbound_nodes, is_functional, producer, run_through_graph
from autoorder.core.errors import ConfigError, PluginError, WeightsError, describe, did_you_mean
from autoorder.model.graph import clean_cuts
from autoorder.model.weights import set_weights
from autoorder.registry.table import register_backbone

OPTION = "space.backbone_options.keras_file"
MAX_FREEZE_POINTS = 6
IMAGE_INPUT = "image"
_CLASSIFIER_TAIL = (keras.layers.Activation, keras.layers.Softmax, keras.layers.Dropout)


def _nested(op: Any) -> Any:
    """The functional graph inside a nested model, or None for an ordinary layer."""
    if isinstance(op, keras.Sequential):
        return functional_graph(op)
    return op if is_functional(op) else None


def _fresh(op: Any, taken: set[str]) -> Any:
    cfg = op.get_config()
    name, base, i = op.name, op.name, 1
    while name in taken:  # inlined sub-models may reuse a name of the outer graph
        name, i = f"{base}_{i}", i + 1
    taken.add(name)
    cfg["name"] = name
    return type(op).from_config(cfg)


def _inline(model: Any, inputs: Any, taken: set[str]) -> Any:
    """Apply `model` to `inputs` with fresh copies of its layers, nested models inlined.

    The copies carry the original weights, so the result is an independent, flat graph.
    """

    def call(op: Any, *args: Any, **kwargs: Any) -> Any:
        inner = _nested(op)
        if inner is not None:
            if len(args) != 1 or any(v is not None for v in kwargs.values()):  # e.g. mask=None
                raise PluginError(f"nested model {op.name!r} takes several inputs; it cannot be inlined")
            return _inline(inner, args[0], taken)
        new = _fresh(op, taken)
        out = new(*args, **kwargs)
        weights = op.get_weights() if hasattr(op, "get_weights") else []
        if weights:
            try:
                set_weights(new, weights)
            except ValueError as e:
                raise _ShapeMismatch(f"layer {op.name!r}: {str(e).splitlines()[0]}") from None
        return out

    return run_through_graph(model, inputs, call)


class _ShapeMismatch(Exception):
    pass


def _input_size(shape: tuple) -> int | None:
    h, w = shape[1], shape[2]
    return int(h) if h is not None else (int(w) if w is not None else None)


class KerasFileBackbone:
    """A saved `.keras` model as a backbone. Unconfigured until `configure(path=...)`."""

    name = "keras_file"

    def __init__(self) -> None:
        self.path: Path | None = None
        self.default_image_size: int | None = None
        self._trunk: keras.Model | None = None  # flat, at the file's size, the file's weights
        self._declared: list[str] | None = None
        self._points: list[str] | None = None

    # ----- configuration -------------------------------------------------------------------
    def configure(
        self,
        base_dir: str | Path = ".",
        path: str | None = None,
        output_layer: str | None = None,
        freeze_points: list[str] | None = None,
    ) -> "KerasFileBackbone":
        """A configured copy: `path` (relative to `base_dir`) to a `.keras` file."""
        if not isinstance(path, str) or not path.strip():
            raise ConfigError(
                f"The '{OPTION}.path' option must be the path of a .keras model file. Got {describe(path)} instead."
            )
        full = Path(path).expanduser()
        full = full if full.is_absolute() else Path(base_dir) / full
        if full.suffix != ".keras":
            raise ConfigError(
                f"The '{OPTION}.path' option must name a .keras file (Keras 3 format). Got {path!r} instead."
                + (" An .h5 file can be converted with keras.models.load_model(...).save('model.keras')." if full.suffix == ".h5" else "")
            )
        if not full.is_file():
            raise ConfigError(f"The '{OPTION}.path' option names {path!r}, which does not exist (looked at {str(full)!r}).")
        if freeze_points is not None and (
            not isinstance(freeze_points, list) or not all(isinstance(p, str) and p for p in freeze_points)
        ):
            raise ConfigError(f"The '{OPTION}.freeze_points' option must be a list of layer names. Got {describe(freeze_points)} instead.")
        if output_layer is not None and (not isinstance(output_layer, str) or not output_layer):
            raise ConfigError(f"The '{OPTION}.output_layer' option must be a layer name. Got {describe(output_layer)} instead.")

        new = type(self)()
        new.path = full
        source = _load(full)
        new._trunk = _trunk_of(source, full, output_layer)
        new.default_image_size = _input_size(tuple(new._trunk.input.shape)) or 224
        new._declared = list(freeze_points) if freeze_points is not None else None
        new._points = new._find_points()
        return new

    def _require(self) -> keras.Model:
        if self._trunk is None:
            raise PluginError(
                f"Backbone 'keras_file' is not configured: set '{OPTION}.path' in the config to a saved .keras "
                "model (an autoorder best_model.keras or any image model), e.g. "
                "space: {backbone_options: {keras_file: {path: ../runs/x/best_model.keras}}}."
            )
        return self._trunk

    def _find_points(self) -> list[str]:
        trunk = self._require()
        cuts = [c for c in clean_cuts(trunk)]
        if self._declared is not None:
            names = {layer.name for layer in trunk.layers}
            bad = [p for p in self._declared if p not in names]
            if bad:
                raise ConfigError(
                    f"The '{OPTION}.freeze_points' option names {bad}, which {'is not a layer' if len(bad) == 1 else 'are not layers'} "
                    f"of {str(self.path)!r}. Clean cuts of that model: {cuts[:20]}"
                )
            crossed = [p for p in self._declared if p not in cuts]
            if crossed:
                raise ConfigError(
                    f"The '{OPTION}.freeze_points' option names {crossed}, which a skip connection or branch crosses "
                    f"in {str(self.path)!r}. Expected clean cuts, such as {cuts[:20]}"
                )
            return sorted(self._declared, key=cuts.index)
        # A cut with no weights below it freezes nothing: leave those out (e.g. the rescaling).
        first_weighted = next((i for i, layer in enumerate(trunk.layers) if layer.weights), len(trunk.layers))
        position = {layer.name: i for i, layer in enumerate(trunk.layers)}
        cuts = [c for c in cuts if position[c] >= first_weighted]
        if len(cuts) <= MAX_FREEZE_POINTS:
            return cuts
        # Spread over the depth, leaving out the very shallowest and the output itself.
        k = MAX_FREEZE_POINTS
        picks = sorted({min(len(cuts) - 1, round((i + 1) * len(cuts) / (k + 1))) for i in range(k)})
        return [cuts[i] for i in picks]

    # ----- the backbone shape --------------------------------------------------------------
    def freeze_points(self) -> list[str]:
        self._require()
        return list(self._points or [])

    def build(self, image_size: int, weights: str | None = None) -> keras.Model:
        """A fresh flat model over (image_size, image_size, 3) pixels 0..255, with the file's weights."""
        trunk = self._require()
        native = _input_size(tuple(trunk.input.shape))
        inp = keras.Input((image_size, image_size, 3), name="pixels")
        try:
            out = _inline(trunk, inp, {"pixels"})
        except _ShapeMismatch as e:
            raise PluginError(
                f"Backbone 'keras_file' ({self.path}) was saved for {native}x{native} images and cannot be rebuilt "
                f"at {image_size}x{image_size}: {e} (the model is not fully convolutional). "
                f"Set data.image_size: {native}."
            ) from None
        except PluginError:
            raise
        except Exception as e:  # noqa: BLE001 - any layer may refuse the new shape
            raise PluginError(
                f"Backbone 'keras_file' ({self.path}) was saved for {native}x{native} images and cannot be rebuilt "
                f"at {image_size}x{image_size}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}. "
                f"Set data.image_size: {native}."
            ) from None
        model = keras.Model(inp, out, name="keras_file")
        if weights not in (None, "imagenet"):
            try:
                model.load_weights(weights)
            except Exception as e:  # noqa: BLE001
                raise WeightsError(
                    f"Backbone 'keras_file': space.weights {weights!r} cannot be loaded onto the model of {self.path}: "
                    f"{type(e).__name__}: {e}. Use weights: null to keep the file's own weights."
                ) from None
        return model


def _load(path: Path) -> keras.Model:
    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except ValueError as e:
        if "safe_mode" in str(e) or "Lambda" in str(e):
            raise PluginError(
                f"Backbone 'keras_file': {str(path)!r} is refused: it holds a Lambda layer or other Python code, "
                "which safe mode does not run. Rebuild that model from stock Keras layers (or registered "
                "custom layers) and save it again."
            ) from None
        raise PluginError(f"Backbone 'keras_file': {str(path)!r} cannot be loaded: {e}") from None
    except Exception as e:  # noqa: BLE001 - a corrupt file or an unknown custom layer
        first = str(e).strip().splitlines()
        hint = ""
        if "Could not locate" in str(e):
            hint = " It uses custom layers: put the module that defines them in the plugins folder."
        raise PluginError(
            f"Backbone 'keras_file': {str(path)!r} cannot be loaded: {type(e).__name__}: "
            f"{first[-1] if first else ''}.{hint}"
        ) from None
    if not isinstance(model, keras.Model):
        raise PluginError(f"Backbone 'keras_file': {str(path)!r} holds a {type(model).__name__}, not a keras.Model.")
    return model


def _autoorder_backbone(model: keras.Model) -> Any:
    """The nested sub-model fed by the `image` input of an autoorder-shaped model, or None."""
    names = [getattr(t, "name", None) for t in model.inputs]
    image_layers = [
        layer for layer in model.layers if isinstance(layer, keras.layers.InputLayer) and layer.name == IMAGE_INPUT
    ]
    if IMAGE_INPUT not in names and not image_layers:
        return None
    image = image_layers[0].output if image_layers else model.inputs[names.index(IMAGE_INPUT)]
    for layer in model.layers:
        if _nested(layer) is None:
            continue
        for node in inbound_nodes(layer):
            if any(t is image for t in node.input_tensors):
                return layer
    return None


def _trunk_of(model: keras.Model, path: Path, output_layer: str | None) -> keras.Model:
    """A flat model at the file's input size, up to the feature layer."""
    backbone = _autoorder_backbone(model)
    if backbone is not None:
        model = backbone
    elif len(model.inputs) != 1:
        raise PluginError(
            f"Backbone 'keras_file': {str(path)!r} has {len(model.inputs)} inputs "
            f"{[getattr(t, 'name', '?') for t in model.inputs]}. Expected one image input, or an autoorder model "
            "with inputs 'image' and 'order'."
        )
    if _nested(model) is None:
        raise PluginError(
            f"Backbone 'keras_file': {str(path)!r} holds a subclassed model ({type(model).__name__}); "
            "only functional and Sequential models can be used as backbones."
        )
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4 or shape[-1] != 3:
        raise PluginError(
            f"Backbone 'keras_file': the image input of {str(path)!r} has shape {shape}. Expected (None, H, W, 3) RGB."
        )
    inp = keras.Input(shape[1:], name="pixels")
    try:
        out = _inline(_nested(model), inp, {"pixels"})
    except Exception as e:  # noqa: BLE001
        raise PluginError(f"Backbone 'keras_file': {str(path)!r} cannot be rebuilt as a flat graph: {e}") from None
    flat = keras.Model(inp, out, name="keras_file")
    if isinstance(flat.output, (list, tuple, dict)):
        raise PluginError(f"Backbone 'keras_file': {str(path)!r} has several outputs; set '{OPTION}.output_layer'.")
    if output_layer is not None:
        names = [layer.name for layer in flat.layers]
        if output_layer not in names:
            raise ConfigError(
                f"The '{OPTION}.output_layer' option names {output_layer!r}, which is not a layer of {str(path)!r}. "
                f"Expected one of its layers, e.g. {names[-8:]}.{did_you_mean(output_layer, names)}"
            )
        feature = flat.get_layer(output_layer).output
    elif backbone is not None:
        feature = flat.output
    else:
        feature = _before_classifier(flat.output)
    trunk = keras.Model(inp, feature, name="keras_file")
    if len(trunk.output.shape) not in (2, 4):
        raise PluginError(
            f"Backbone 'keras_file': the feature layer of {str(path)!r} has shape {tuple(trunk.output.shape)}. "
            f"Expected a feature map (None, H, W, C) or a vector (None, C); set '{OPTION}.output_layer'."
        )
    return trunk


def _before_classifier(output: Any) -> Any:
    """The input of the final Dense layer when the model ends with one (through activations)."""
    tensor = output
    op = producer(tensor)
    while isinstance(op, _CLASSIFIER_TAIL):
        tensor = op.input
        op = producer(tensor)
    if isinstance(op, keras.layers.Dense):
        return op.input
    return output


register_backbone(KerasFileBackbone)
