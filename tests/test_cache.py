"""The feature cache: same logits as the full graph, and one backbone pass per search."""


import keras
import keras_tuner as kt
import numpy as np
import pytest
import tensorflow as tf

from autoorder.core.config import from_dict
from autoorder.model.features import BackboneBank, FeatureCache
from autoorder.model.graph import split_model
from autoorder.model.assembly import HeadSpec, build_export_model, build_head, build_training_model
from autoorder.model.catalog import builtins
from autoorder.registry.table import Registry

from helpers import simple_dataset

SEEN = tf.Variable(0, dtype=tf.int64, trainable=False)  # images through the backbone's first layer


@keras.saving.register_keras_serializable("autoorder_tests")
class CountImages(keras.layers.Layer):
    def call(self, x):
        SEEN.assign_add(tf.cast(tf.shape(x)[0], tf.int64))
        return x


class Mini:
    name = "mini"
    default_image_size = 16

    def build(self, image_size, weights):
        i = keras.Input((image_size, image_size, 3))
        x = CountImages(name="count")(i)
        x = keras.layers.Rescaling(1 / 255.0, name="scale")(x)
        x = keras.layers.Conv2D(4, 3, activation="relu", name="c1")(x)
        x = keras.layers.MaxPooling2D(name="p1")(x)
        x = keras.layers.Conv2D(8, 3, activation="relu", name="c2")(x)
        x = keras.layers.MaxPooling2D(name="p2")(x)
        x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c3")(x)
        return keras.Model(i, x)

    def freeze_points(self):
        return ["p1", "p2"]


def registry():
    reg = Registry()
    for e in builtins().encodings.values():
        reg.register_encoding(e.obj)
    reg.register_backbone(Mini)
    return reg


@pytest.mark.parametrize("cut", ["p1", "p2", "all"])
def test_cached_path_equals_full_path(cut):
    reg = registry()
    bank = BackboneBank(reg, None, seed=0)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20, 16, 16, 3)).astype(np.uint8)
    orders = rng.integers(0, 5, 20).astype(np.int32)
    cache = FeatureCache(memory_mb=64)
    feats = cache.get(bank, "mini", 16, cut, images, "data", ["p1", "p2", "all"])
    backbone = bank.build("mini", 16)
    hp = kt.HyperParameters()
    spec = HeadSpec(3, (1, 2, 3), depth=1, width=8, dropout=0.0)
    if cut == "all":
        head = build_head(feats.shape[1:], spec, reg.get_encoding("film"), hp)
        trainer = build_training_model(None, feats.shape[1:], head)
    else:
        _, suffix = split_model(backbone, cut)
        head = build_head((suffix.output.shape[-1],), spec, reg.get_encoding("film"), hp)
        trainer = build_training_model(suffix, feats.shape[1:], head)
    # Perturb every trainable weight so the comparison is not between two zero-initialised heads.
    for w in trainer.trainable_weights:
        w.assign(w + rng.normal(0, 0.1, w.shape).astype("float32"))
    exported = build_export_model(backbone, head, 16)
    a = trainer.predict({"features": np.asarray(feats), "order": orders}, verbose=0)
    b = exported.predict({"image": images.astype("float32"), "order": orders}, verbose=0)
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_spilled_features_equal_in_memory_ones(tmp_path):
    reg = registry()
    bank = BackboneBank(reg, None, seed=0)
    images = np.random.default_rng(1).integers(0, 256, (10, 16, 16, 3)).astype(np.uint8)
    mem = FeatureCache(memory_mb=64).get(bank, "mini", 16, "p1", images, "d", ["p1"])
    disk_cache = FeatureCache(memory_mb=0, spill_dir=tmp_path)
    disk = disk_cache.get(bank, "mini", 16, "p1", images, "d", ["p1"])
    assert isinstance(disk, np.memmap) and list(tmp_path.glob("features-*.npy"))
    np.testing.assert_array_equal(np.asarray(disk), mem)
    # A new cache over the same folder reuses the file: no new backbone pass.
    again = FeatureCache(memory_mb=0, spill_dir=tmp_path)
    np.testing.assert_array_equal(np.asarray(again.get(bank, "mini", 16, "p1", images, "d", ["p1"])), mem)
    assert again.total_passes() == 0
    # Other data never gets these features.
    assert FeatureCache(memory_mb=0, spill_dir=tmp_path).key(bank.fingerprint("mini", 16), "other", "p1") != disk_cache.key(
        bank.fingerprint("mini", 16), "d", "p1"
    )


def test_one_backbone_pass_per_search_whatever_the_trials_epochs_and_cuts(tmp_path):
    from autoorder.run.search import run_search

    manifest = simple_dataset(tmp_path / "data", classes=("a", "b", "c"), objects_per_class=5)
    cfg = from_dict(
        {
            "data": {"manifest": str(manifest), "image_size": 16},
            "space": {"backbones": "mini", "freeze": ["all", "p1", "p2"], "order_encodings": ["none", "onehot"]},
            "tuner": {"max_trials": 5, "epochs": 3, "patience": 0},
        },
        "c.yaml",
        tmp_path,
    )
    SEEN.assign(0)
    res = run_search(cfg, tmp_path / "run", registry=registry())
    done = [t for t in res.trials if t.status == "COMPLETED"]
    assert len(done) == 5
    assert res.cache.backbone_passes == 1
    n = res.dataset.images
    n_test = res.dataset.images_per_split["test"]
    # One pass over every image for the cache, plus the exported model's test evaluation.
    assert int(SEEN.numpy()) == n + n_test


def test_head_only_trial_writes_no_backbone_to_disk(tmp_path):
    from autoorder.run.search import run_search

    manifest = simple_dataset(tmp_path / "data", classes=("a", "b"), objects_per_class=4)
    cfg = from_dict(
        {
            "data": {"manifest": str(manifest), "image_size": 16},
            "space": {"backbones": "mini", "freeze": "all", "order_encodings": "none", "head_depth": 0},
            "tuner": {"max_trials": 1, "epochs": 1},
        },
        "c.yaml",
        tmp_path,
    )
    run_search(cfg, tmp_path / "run", registry=registry())
    ckpt = next((tmp_path / "run" / "tuner").glob("trial_*/checkpoint.weights.h5"))
    import h5py

    names = []
    with h5py.File(ckpt) as f:
        f.visit(names.append)
    assert not any("c1" in n or "conv2d" in n for n in names), names


def test_backbone_pass_reports_progress_and_rate():
    bank = BackboneBank(registry(), None, seed=0)
    images = np.random.default_rng(1).integers(0, 256, (10, 16, 16, 3)).astype(np.uint8)
    lines = []
    cache = FeatureCache(memory_mb=64, progress=lines.append, batch_size=4, progress_seconds=0.0)
    cache.get(bank, "mini", 16, "p1", images, "d", ["p1"])
    assert lines[0].startswith("caching mini features at p1 for 10 images")
    # A line after every batch but the last (interval 0), each with the count, a rate and time left.
    assert [l.split(": ")[1].split(" (")[0] for l in lines[1:-1]] == ["4/10 images", "8/10 images"]
    assert all("images/s" in l and "left" in l for l in lines[1:-1])
    assert lines[-1].startswith("cached mini features for 10 images in ")


class Flat(Mini):
    """Features that are the same for every image (what a random-weight application gives)."""

    name = "flat"

    def build(self, image_size, weights):
        i = keras.Input((image_size, image_size, 3))
        x = keras.layers.Rescaling(0.0, name="zero")(i)
        x = keras.layers.Conv2D(4, 3, name="c1")(x)
        x = keras.layers.MaxPooling2D(name="p1")(x)
        return keras.Model(i, x)

    def freeze_points(self):
        return ["p1"]


def test_backbone_pass_warns_when_features_do_not_vary_between_images():
    reg = registry()
    reg.register_backbone(Flat)
    bank = BackboneBank(reg, None, seed=0)
    images = np.random.default_rng(1).integers(0, 256, (10, 16, 16, 3)).astype(np.uint8)
    lines = []
    FeatureCache(memory_mb=64, progress=lines.append).get(bank, "flat", 16, "p1", images, "d", ["p1"])
    assert any(l.startswith("warning: flat features at 'p1' hardly differ between images") for l in lines), lines
    lines.clear()
    FeatureCache(memory_mb=64, progress=lines.append).get(bank, "mini", 16, "p1", images, "d", ["p1"])
    assert not any(l.startswith("warning") for l in lines), lines


def test_validate_flags_frozen_cuts_whose_features_do_not_vary(tmp_path):
    from autoorder.data.dataset import load_dataset
    from autoorder.run.validate import feature_warnings

    reg = registry()
    reg.register_backbone(Flat)
    manifest = simple_dataset(tmp_path / "data", classes=("a", "b"), objects_per_class=4)

    def warnings(backbones, freeze):
        cfg = from_dict({"data": {"manifest": str(manifest), "image_size": 16}, "space": {"backbones": backbones, "freeze": freeze}}, "c.yaml", tmp_path)
        return feature_warnings(cfg, reg, BackboneBank(reg, None, seed=0), load_dataset(cfg))

    (w,) = warnings(["flat", "mini"], ["p1", "none"])
    assert w.startswith("flat features at 'p1' hardly differ between images")
    assert warnings(["mini"], ["p1", "all"]) == []
    assert warnings(["flat"], ["none"]) == []  # trained end to end: nothing frozen to warn about
