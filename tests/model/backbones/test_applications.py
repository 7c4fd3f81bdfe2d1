"""keras.applications backbones: the contract, reproducible names, weights files, ImageNet offline."""

from __future__ import annotations

import urllib.error
from dataclasses import replace

import h5py
import keras
import numpy as np
import pytest

from autoorder.core.errors import AutoOrderError, WeightsError
from autoorder.model.backbones import applications as apps
from autoorder.model.backbones import backbone_weights_file, imagenet_cache_dir
from autoorder.model.catalog import create_backbone, list_backbones
from autoorder.model.graph import clean_cuts, split_model

SIZE = 32


BACKBONES = list_backbones()


def _pixels(n: int = 2, size: int = SIZE, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype("float32")


def _run(model, x) -> np.ndarray:
    return np.asarray(model(x, training=False))


def _close(a, b, tol: float = 1e-4) -> None:
    b = np.asarray(b)
    np.testing.assert_allclose(np.asarray(a), b, rtol=tol, atol=tol * float(np.abs(b).max()))  # relative to the output's scale


def _backbone(name: str, tmp_path):
    bb = create_backbone(name)
    if name == "keras_file":  # needs a model file: any saved image model will do
        create_backbone("tiny_cnn").build(SIZE, None).save(tmp_path / "source.keras")
        bb = bb.configure(base_dir=tmp_path, path="source.keras")
    return bb


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """An empty Keras cache in tmp_path and no network: a download attempt fails at once."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    attempts = []

    def no_network(url, dest, md5):
        attempts.append(url)
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(apps, "_download", no_network)
    return attempts


def _perturbed(model: keras.Model, seed: int = 0) -> keras.Model:
    """Move every weight away from its initial value, keeping activations in range."""
    rng = np.random.default_rng(seed)
    for v in model.weights:
        w = np.asarray(v)
        if "variance" in v.path:
            new = rng.uniform(0.5, 1.5, w.shape)
        elif "count" in v.path:
            continue
        else:
            new = w * (1 + 0.1 * rng.normal(size=w.shape)) + 0.01 * rng.normal(size=w.shape)
        v.assign(new.astype(w.dtype))
    return model


def _write_keras_file(standalone: keras.Model, path) -> None:
    """Write weights the way Keras' ImageNet files are written (legacy HDF5, layer by layer)."""
    from keras.src.legacy.saving import legacy_h5_format

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, standalone)


PREPROCESS = {
    "mobilenet_v2": keras.applications.mobilenet_v2.preprocess_input,
    "mobilenet_v3_small": keras.applications.mobilenet_v3.preprocess_input,
    "efficientnet_b0": keras.applications.efficientnet.preprocess_input,
    "resnet50": keras.applications.resnet50.preprocess_input,
}


# ----- every registered backbone -------------------------------------------------------------
@pytest.mark.parametrize("name", BACKBONES)
def test_backbone_contract(name, tmp_path):
    bb = _backbone(name, tmp_path)
    assert isinstance(bb.default_image_size, int) and bb.default_image_size > 0
    model = bb.build(SIZE, None)
    assert isinstance(model, keras.Model)
    assert tuple(model.input.shape) == (None, SIZE, SIZE, 3)
    assert len(model.output.shape) in (2, 4)
    if getattr(bb, "params", None) is not None:  # what `plugins list` shows without building
        assert bb.params == model.count_params()

    points = bb.freeze_points()
    cuts = clean_cuts(model)
    assert points, "every built-in offers at least one freeze point"
    assert set(points) <= set(cuts), f"not clean cuts: {set(points) - set(cuts)}"
    ranks = [cuts.index(p) for p in points]
    assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks), "freeze points must go shallow to deep"

    x = _pixels()
    y = _run(model, x)
    assert np.all(np.isfinite(y))
    for point in points:
        prefix, suffix = split_model(model, point)
        _close(_run(suffix, _run(prefix, x)), y)

    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    _close(_run(loaded, x), y, tol=1e-5)


@pytest.mark.parametrize("name", [n for n in BACKBONES if n in apps.ARCHITECTURES])
def test_application_layer_names_are_reproducible(name):
    bb = create_backbone(name)
    a, b = bb.build(SIZE, None), bb.build(SIZE, None)
    assert [layer.name for layer in a.layers] == [layer.name for layer in b.layers]
    assert a.to_json() == b.to_json()


# ----- weights: paths ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["tiny_cnn", "mobilenet_v3_small"])
def test_missing_weights_path(name, tmp_path):
    missing = tmp_path / "nope.weights.h5"
    want = rf"backbone '{name}' must be .*Got '.*nope\.weights\.h5' instead, which does not exist"
    with pytest.raises(WeightsError, match=want):
        create_backbone(name).build(SIZE, str(missing))


def test_weights_of_the_wrong_type():
    with pytest.raises(WeightsError, match=r"The 'weights' parameter of backbone 'tiny_cnn' must be .* Got 3 instead"):
        create_backbone("tiny_cnn").build(SIZE, 3)


def test_application_loads_a_keras_weights_file(tmp_path):
    standalone = _perturbed(keras.applications.MobileNetV3Small(include_top=False, weights=None, input_shape=(SIZE, SIZE, 3)))
    standalone.save_weights(tmp_path / "mine.weights.h5")
    model = create_backbone("mobilenet_v3_small").build(SIZE, str(tmp_path / "mine.weights.h5"))
    for layer in ("conv", "expanded_conv_5_expand", "conv_1_bn"):
        for a, b in zip(model.get_layer(layer).get_weights(), standalone.get_layer(layer).get_weights()):
            np.testing.assert_array_equal(a, b)


# ----- weights: imagenet ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["mobilenet_v2", "resnet50"])
def test_imagenet_offline_says_what_to_do(name, offline):
    with pytest.raises(WeightsError) as info:
        create_backbone(name).build(SIZE, "imagenet")
    msg = str(info.value)
    fname = backbone_weights_file(name, SIZE)
    assert msg.startswith(f"ImageNet weights for backbone '{name}' could not be downloaded (network disabled in tests).")
    assert fname in msg and str(imagenet_cache_dir()) in msg and apps.ARCHITECTURES[name].url(SIZE) in msg
    assert "weights: null" in msg and "freeze: none" in msg and "keras_file" in msg and "\n" not in msg
    assert offline == [apps.ARCHITECTURES[name].url(SIZE)]


def test_imagenet_download_failure_is_a_clean_error(monkeypatch, tmp_path):
    # The real download code against a port nothing listens on: refused at once, no traceback.
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    arch = replace(apps.ARCHITECTURES["mobilenet_v3_small"], weights_dir_url="http://127.0.0.1:9/")
    monkeypatch.setitem(apps.ARCHITECTURES, "mobilenet_v3_small", arch)
    with pytest.raises(WeightsError, match=r"could not be downloaded \(.*\)\. Download http://127\.0\.0\.1:9/weights_mobilenet_v3_small.* put the file weights_mobilenet_v3_small"):
        apps.resolve_weights("mobilenet_v3_small", "imagenet", SIZE)
    assert not any((tmp_path / "models").iterdir())  # no partial file left behind


def test_imagenet_file_name_follows_keras():
    assert backbone_weights_file("mobilenet_v2", 32) == "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
    assert backbone_weights_file("mobilenet_v2", 160) == "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160_no_top.h5"
    assert backbone_weights_file("resnet50") == "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    with pytest.raises(AutoOrderError, match="no ImageNet weights"):
        backbone_weights_file("tiny_cnn")


@pytest.mark.filterwarnings("ignore:`input_shape` is undefined or non-square")
@pytest.mark.parametrize("name", list(apps.ARCHITECTURES))
def test_imagenet_file_url_and_hash_are_those_keras_asks_for(name, monkeypatch):
    from keras.src.utils import file_utils

    class Asked(Exception):
        pass

    def get_file(fname, origin, **kwargs):
        raise Asked(fname, origin, kwargs.get("file_hash"))

    monkeypatch.setattr(file_utils, "get_file", get_file)
    arch = apps.ARCHITECTURES[name]
    with pytest.raises(Asked) as info:
        arch.application(include_top=False, weights="imagenet", input_shape=(SIZE, SIZE, 3), **arch.options)
    assert info.value.args == (backbone_weights_file(name, SIZE), arch.url(SIZE), arch.md5)


def test_imagenet_cache_dir_follows_keras_home(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert imagenet_cache_dir() == tmp_path / "models"


@pytest.mark.filterwarnings("ignore:`input_shape` is undefined or non-square")  # Keras, on 32 px
@pytest.mark.parametrize("name", list(PREPROCESS))
def test_imagenet_from_the_keras_cache_matches_keras(name, offline, monkeypatch):
    """A file in $KERAS_HOME/models loads with no network, and the flat model computes what
    Keras' own ImageNet model computes after its own preprocess_input."""
    keras.utils.set_random_seed(0)  # the weights start from one fixed draw, whatever ran before
    arch = apps.ARCHITECTURES[name]
    standalone = _perturbed(arch.application(include_top=False, weights=None, input_shape=(SIZE, SIZE, 3)))
    if name == "efficientnet_b0":  # the values the real file holds
        norm = next(l for l in standalone.layers if isinstance(l, keras.layers.Normalization))
        mean = np.array([0.485, 0.456, 0.406], "float32")
        norm.set_weights([mean, np.square(apps.IMAGENET_STD_RGB).astype("float32"), np.array(0)])
    path = imagenet_cache_dir() / backbone_weights_file(name, SIZE)
    _write_keras_file(standalone, path)

    model = create_backbone(name).build(SIZE, "imagenet")
    assert offline == []  # found in the cache: no download attempted
    heavy = max((l for l in standalone.layers if l.get_weights()), key=lambda l: l.get_weights()[0].size)
    np.testing.assert_array_equal(model.get_layer(heavy.name).get_weights()[0], heavy.get_weights()[0])

    # Keras' own ImageNet loading, with its download pointed at our file.
    from keras.src.utils import file_utils

    asked = {}

    def get_file(fname, origin, **kwargs):
        asked.update(fname=fname, origin=origin, hash=kwargs.get("file_hash"))
        return str(path)

    monkeypatch.setattr(file_utils, "get_file", get_file)
    reference = arch.application(include_top=False, weights="imagenet", input_shape=(SIZE, SIZE, 3), **arch.options)
    assert asked == {"fname": path.name, "origin": arch.url(SIZE), "hash": arch.md5}
    x = _pixels(seed=3)
    want = _run(reference, PREPROCESS[name](x.copy()))
    assert np.std(want) > 1e-3  # a real comparison, not of two zero maps
    _close(_run(model, x), want, tol=1e-4)


def test_corrupt_cached_imagenet_file(offline):
    path = imagenet_cache_dir() / backbone_weights_file("mobilenet_v3_small")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"half a download")
    want = r"The ImageNet weights file .*weights_mobilenet_v3_small.* cannot be loaded .*replace it with https://"
    with pytest.raises(WeightsError, match=want):
        create_backbone("mobilenet_v3_small").build(SIZE, "imagenet")
    assert offline == []

