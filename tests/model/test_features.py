"""The feature cache: cached activations equal the full graph's; spilling; progress; degenerate features."""

import threading

import keras
import keras_tuner as kt
import numpy as np
import pytest

from autoorder.model.assembly import (
    HeadSpec,
    build_export_model,
    build_head,
    build_training_model,
)
from autoorder.model.features import BackboneBank, FeatureCache, Layout, count_passes, degenerate_cuts, degenerate_warning
from autoorder.model.graph import split_model
from tests.fakes import Flat, registry


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


class Normed:
    """Convolutions followed by batch normalizations with statistics far from their initial values."""

    name = "normed"
    default_image_size = 16

    def build(self, image_size, weights):
        keras.utils.set_random_seed(2)
        i = keras.Input((image_size, image_size, 3))
        x = keras.layers.Rescaling(1 / 255.0)(i)
        for k in (1, 2):
            x = keras.layers.Conv2D(8, 3, use_bias=False, name=f"c{k}")(x)
            x = keras.layers.BatchNormalization(name=f"bn{k}")(x)
            x = keras.layers.ReLU(6.0, name=f"r{k}")(x)
        model = keras.Model(i, x)
        rng = np.random.default_rng(0)
        for k in (1, 2):
            bn = model.get_layer(f"bn{k}")
            gamma, beta, mean, var = bn.get_weights()
            bn.set_weights([rng.uniform(0.5, 1.5, 8), rng.normal(0, 0.3, 8), rng.normal(0, 0.3, 8), rng.uniform(0.3, 3, 8)])
        return model

    def freeze_points(self):
        return ["r1"]


def test_cached_features_of_a_batch_normalized_backbone_are_its_keras_outputs():
    """The pass traces batch normalization as one fused op (compat.keras.fused_batchnorm_inference):
    the cached features are what Keras' layers compute, to float rounding."""
    reg = registry()
    reg.register_backbone(Normed)
    bank = BackboneBank(reg, None, seed=0)
    images = np.random.default_rng(1).integers(0, 256, (12, 16, 16, 3)).astype(np.uint8)
    feats = FeatureCache(memory_mb=64).get(bank, "normed", 16, "all", images, "data", ["r1", "all"])
    backbone = bank.build("normed", 16)
    pooled = keras.layers.GlobalAveragePooling2D()(backbone(images.astype("float32"), training=False))
    np.testing.assert_allclose(np.asarray(feats), np.asarray(pooled), rtol=1e-5, atol=1e-6)
    assert np.asarray(pooled).std() > 0.05  # features that differ between images


def test_spilled_features_equal_in_memory_ones(tmp_path):
    reg = registry()
    bank = BackboneBank(reg, None, seed=0)
    images = np.random.default_rng(1).integers(0, 256, (10, 16, 16, 3)).astype(np.uint8)
    mem = FeatureCache(memory_mb=64).get(bank, "mini", 16, "p1", images, "d", ["p1"])
    disk_cache = FeatureCache(memory_mb=0, spill_dir=tmp_path)
    disk = disk_cache.get(bank, "mini", 16, "p1", images, "d", ["p1"])
    assert mem.in_memory and not disk.in_memory and list(tmp_path.glob("features-*/all-00000.bin"))
    np.testing.assert_array_equal(np.asarray(disk), np.asarray(mem))
    np.testing.assert_array_equal(disk[[7, 2]], np.asarray(mem)[[7, 2]])
    # A new cache over the same folder reuses the files: no new backbone pass; within its budget it reads them into memory.
    again = FeatureCache(memory_mb=64, spill_dir=tmp_path)
    loaded = again.get(bank, "mini", 16, "p1", images, "d", ["p1"])
    assert loaded.in_memory and again.total_passes() == 0
    np.testing.assert_array_equal(np.asarray(loaded), np.asarray(mem))
    # `ready` says, without a pass, whether a cache holds a cut (a new cache over the folder does).
    whole = Layout.whole(len(images))
    assert disk_cache.ready(bank, "mini", 16, "p1", "d", whole) and again.ready(bank, "mini", 16, "p1", "d", whole)
    fresh = FeatureCache(memory_mb=64, spill_dir=tmp_path / "empty")
    assert not fresh.ready(bank, "mini", 16, "p1", "d", whole) and not fresh.ready(bank, "mini", 16, "p2", "d", whole)
    assert not FeatureCache(memory_mb=64).ready(bank, "mini", 16, "p1", "d", whole)
    assert fresh.total_passes() == 0
    # Other data never gets these features.
    assert FeatureCache(memory_mb=0, spill_dir=tmp_path).key(bank.fingerprint("mini", 16), "other", "p1") != disk_cache.key(
        bank.fingerprint("mini", 16), "d", "p1"
    )


def test_features_are_stored_split_by_split_and_streamed_in_a_new_order_every_epoch(tmp_path):
    bank = BackboneBank(registry(), None, seed=0)
    n = 40
    images = np.random.default_rng(2).integers(0, 256, (n, 16, 16, 3)).astype(np.uint8)
    split = np.array(["train", "val", "test", "train"] * 10)
    layout = Layout.of(split)
    labels = np.arange(n, dtype=np.int32)
    for budget in (64, 0):  # in memory, then streamed from shard files
        feats = FeatureCache(memory_mb=budget, spill_dir=tmp_path / str(budget)).get(bank, "mini", 16, "all", images, "d", ["all"], layout)
        assert feats.in_memory == bool(budget)
        train = np.flatnonzero(split == "train")

        def epoch(ds):
            rows, ys = zip(*[(r.numpy(), int(y)) for r, y in ds])
            return np.stack(rows), list(ys)

        ds = feats.dataset("train", (labels[train],), shuffle=True, seed=3)
        rows, first = epoch(ds)
        _, second = epoch(ds)
        assert sorted(first) == train.tolist() and first != second  # every row once, reshuffled each epoch
        np.testing.assert_allclose(rows, feats[np.array(first)])  # each row with its own label
        assert epoch(feats.dataset("train", (labels[train],), shuffle=True, seed=3))[1] == first  # the seed decides
        assert epoch(feats.dataset("val", (labels[split == "val"],), shuffle=False, seed=3))[1] == np.flatnonzero(split == "val").tolist()


def test_a_pass_killed_mid_way_leaves_nothing_that_is_read_and_the_next_one_makes_it_again(tmp_path):
    bank = BackboneBank(registry(), None, seed=0)
    images = np.random.default_rng(1).integers(0, 256, (10, 16, 16, 3)).astype(np.uint8)
    cache = FeatureCache(memory_mb=0, spill_dir=tmp_path)
    good = np.asarray(cache.get(bank, "mini", 16, "p1", images, "d", ["p1"]))
    (folder,) = tmp_path.glob("features-*")
    # What a kill -9 mid-pass leaves: the partial folder of the pass, and (older layouts) shards without meta.json.
    (folder / "meta.json").unlink()
    (tmp_path / ".pass-0123.999.partial" / "x").mkdir(parents=True)
    again = FeatureCache(memory_mb=0, spill_dir=tmp_path)
    np.testing.assert_array_equal(np.asarray(again.get(bank, "mini", 16, "p1", images, "d", ["p1"])), good)
    assert again.total_passes() == 1 and (folder / "meta.json").exists()


def test_processes_sharing_a_cache_folder_make_one_pass(tmp_path):
    bank = BackboneBank(registry(), None, seed=0)
    bank.pristine("mini", 16)  # built before the threads start
    images = np.random.default_rng(1).integers(0, 256, (300, 16, 16, 3)).astype(np.uint8)
    caches = [FeatureCache(memory_mb=0, spill_dir=tmp_path / "cache", ledger=tmp_path / "passes", progress=lambda s: None) for _ in range(3)]
    out = [None] * 3

    def one(i):
        out[i] = np.asarray(caches[i].get(bank, "mini", 16, "p1", images, "d", ["p1", "all"]))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(c.total_passes() for c in caches) == 1 and count_passes(tmp_path / "passes")[0] == 1
    for o in out[1:]:
        np.testing.assert_array_equal(o, out[0])


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


def test_degenerate_cuts_are_those_whose_features_do_not_vary_between_images():
    reg = registry()
    reg.register_backbone(Flat)
    bank = BackboneBank(reg, None, seed=0)
    images = np.random.default_rng(1).integers(0, 256, (10, 16, 16, 3)).astype(np.uint8)
    ((cut, spread),) = degenerate_cuts(bank, "flat", 16, ["p1"], images)
    assert cut == "p1" and spread < 1e-6
    assert degenerate_cuts(bank, "mini", 16, ["p1", "all"], images) == []
    assert degenerate_warning("flat", [("p1", spread), ("all", 0.0)]).startswith("flat features at 'p1', 'all' hardly differ between images")
