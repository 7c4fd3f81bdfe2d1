"""The keras_file backbone: a saved .keras model (plain or autoorder's) as a backbone."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from autoorder.core.config import from_dict
from autoorder.core.errors import ConfigError, PluginError
from autoorder.model import catalog
from autoorder.testing import check_backbone


def _cfg(root: Path, **sections) -> object:
    raw = {"data": {"manifest": "data/manifest.csv"}, **sections}
    return from_dict(raw, source=str(root / "search.yaml"), base_dir=root)


# ----- keras_file --------------------------------------------------------------------------
def _plain_model(size=24, flatten=False):
    inp = keras.Input((size, size, 3), name="img")
    x = keras.layers.Rescaling(1 / 255, name="scale")(inp)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1")(x)
    x = keras.layers.MaxPooling2D(name="p1")(x)
    y = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c2")(x)
    x = keras.layers.Add(name="skip")([x, y])
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="c3")(x)
    x = (keras.layers.Flatten if flatten else keras.layers.GlobalAveragePooling2D)(name="feat")(x)
    out = keras.layers.Dense(3, activation="softmax", name="classifier")(x)
    return keras.Model(inp, out)


def _keras_file(tmp_path, **options):
    from autoorder.model.catalog import builtins

    return builtins().get_backbone("keras_file").configure(base_dir=tmp_path, **options)


def test_keras_file_plain_model(tmp_path):
    src = _plain_model()
    src.save(tmp_path / "mine.keras")
    bb = _keras_file(tmp_path, path="mine.keras")
    assert bb.default_image_size == 24
    model = bb.build(24, None)
    assert model.output.shape == (None, 6)  # the input of the final Dense
    x = np.random.default_rng(0).uniform(0, 255, (2, 24, 24, 3)).astype("float32")
    want = keras.Model(src.input, src.get_layer("feat").output).predict(x, verbose=0)
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)
    assert bb.build(24, None) is not model and bb.build(24, None).layers[2] is not model.layers[2]  # fresh
    from autoorder.model.graph import clean_cuts

    points = bb.freeze_points()
    assert points and set(points) <= set(clean_cuts(model)) and "c2" not in points
    assert bb.build(40, None).output.shape == (None, 6)  # fully convolutional: any size
    assert check_backbone(bb, image_size=16).passed
    declared = _keras_file(tmp_path, path="mine.keras", output_layer="c3", freeze_points=["skip", "p1"])
    assert declared.freeze_points() == ["p1", "skip"] and declared.build(24, None).output.shape == (None, 12, 12, 6)
    with pytest.raises(ConfigError, match=r"freeze_points' option names \['c2'\], which a skip connection"):
        _keras_file(tmp_path, path="mine.keras", freeze_points=["c2"])
    with pytest.raises(ConfigError, match=r"output_layer' option names 'c33'.*Did you mean 'c3'"):
        _keras_file(tmp_path, path="mine.keras", output_layer="c33")


def test_keras_file_size_change_needs_a_fully_convolutional_model(tmp_path):
    _plain_model(flatten=True).save(tmp_path / "dense.keras")
    bb = _keras_file(tmp_path, path="dense.keras", output_layer="classifier")
    assert bb.build(24, None).output.shape == (None, 3)
    with pytest.raises(PluginError, match=r"saved for 24x24 images and cannot be rebuilt at 32x32"):
        bb.build(32, None)


def test_keras_file_autoorder_model_uses_the_image_path(tmp_path):
    import keras_tuner as kt

    from autoorder.model.assembly import HeadSpec, build_export_model, build_head
    from autoorder.model.encodings import FiLMEncoding

    inp = keras.Input((20, 20, 3))
    x = keras.layers.Rescaling(1 / 255, name="bb_scale")(inp)
    x = keras.layers.Conv2D(5, 3, padding="same", name="bb_conv1")(x)
    x = keras.layers.MaxPooling2D(name="bb_pool")(x)
    x = keras.layers.Conv2D(7, 3, padding="same", name="bb_conv2")(x)
    backbone = keras.Model(inp, x, name="backbone")
    head = build_head((7,), HeadSpec(2, (1, 2, 3), 1, 8, 0.0), FiLMEncoding(), kt.HyperParameters())
    exported = build_export_model(backbone, head, 20)
    exported.save(tmp_path / "best_model.keras")

    bb = _keras_file(tmp_path, path="best_model.keras")
    model = bb.build(20, None)
    assert bb.default_image_size == 20 and len(model.inputs) == 1
    assert model.output.shape == (None, 10, 10, 7)
    assert not any(isinstance(layer, keras.Model) for layer in model.layers)  # flat
    assert "bb_pool" in bb.freeze_points()
    x = np.random.default_rng(1).uniform(0, 255, (2, 20, 20, 3)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), backbone.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    assert check_backbone(bb, image_size=20).passed


def test_keras_file_refusals(tmp_path):
    from autoorder.model.catalog import builtins

    with pytest.raises(PluginError, match=r"space.backbone_options.keras_file.path"):
        builtins().get_backbone("keras_file").build(32, None)
    inp = keras.Input((8, 8, 3))
    keras.Model(inp, keras.layers.Lambda(lambda t: t * 2)(inp)).save(tmp_path / "lam.keras")
    with pytest.raises(PluginError, match=r"lam.keras' is refused: it holds a Lambda layer"):
        _keras_file(tmp_path, path="lam.keras")
    with pytest.raises(ConfigError, match=r"does not exist"):
        _keras_file(tmp_path, path="missing.keras")
    (tmp_path / "old.h5").write_text("x")
    with pytest.raises(ConfigError, match=r"must name a .keras file"):
        _keras_file(tmp_path, path="old.h5")


def test_keras_file_through_backbone_options(tmp_path):
    _plain_model().save(tmp_path / "mine.keras")
    cfg = _cfg(tmp_path, space={"backbones": ["keras_file"], "backbone_options": {"keras_file": {"path": "mine.keras"}}},
               plugins={"paths": [], "entry_points": False})
    bb = catalog.registry_for(cfg).get_backbone("keras_file")
    assert bb.default_image_size == 24 and bb.build(24, None).output.shape == (None, 6)
    bad = _cfg(tmp_path, space={"backbone_options": {"keras_file": {"path": "mine.keras", "layer": "x"}}},
               plugins={"paths": [], "entry_points": False})
    with pytest.raises(ConfigError, match=r"backbone_options.keras_file' key .* is not accepted"):
        catalog.registry_for(bad)

