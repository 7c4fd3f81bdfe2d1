"""The benchmark protocol with its searches and retrainings faked: repeats, seeds, resume, state, figures.

Training is replaced by fakes (a search that returns a best configuration, a retraining that
returns seeded random probabilities), so these tests check the protocol's bookkeeping in seconds;
tests/e2e/test_benchmark.py runs the real thing.
"""

from __future__ import annotations

import json
import types

import numpy as np
import pytest

from autoorder.benchmarking import protocol as Pr
from autoorder.benchmarking import repeat as Rp
from autoorder.benchmarking.figures import figures_from_folder
from autoorder.core.config import from_dict
from autoorder.core.errors import RunError
from autoorder.schema.benchmark import read_benchmark
from autoorder.schema.predictions import read_predictions
from autoorder.schema.results import BestModel
from tests.helpers import assert_same_figures, simple_dataset, write_image


def _cfg(tmp_path, **tuner):
    manifest = simple_dataset(tmp_path / "data", classes=("a", "b", "c"), objects_per_class=6)
    return from_dict(
        {"data": {"manifest": str(manifest), "image_size": 16, "split": {"val": 0.2, "test": 0.3, "seed": 4}},
         "space": {"backbones": "tiny_cnn", "weights": None, "freeze": "none", "head_depth": 0,
                   "order_encodings": ["none", "onehot"], "learning_rate": 0.01},
         "tuner": {"max_trials": 1, "epochs": 3, "seed": 7, **tuner},
         "plugins": {"paths": [], "entry_points": False}},
        "c.yaml", tmp_path)


@pytest.fixture
def fakes(monkeypatch):
    calls = {"search": [], "retrain": [], "fail_after": None}

    def search(cfg, out, **kw):
        calls["search"].append((out.parent.name, out.name, cfg.tuner.seed, cfg.data.split.seed, kw["data"].split.copy()))
        return types.SimpleNamespace(best=BestModel(trial="0", hyperparameters={"order_encoding": out.name}), trials=[])

    def retrain(cfg, registry, data, hps, seed, variants, epoch_log=None, label=""):
        if calls["fail_after"] is not None and len(calls["retrain"]) >= calls["fail_after"]:
            raise KeyboardInterrupt  # killed mid-benchmark
        calls["retrain"].append((seed, hps["order_encoding"], int(data.orders.max())))
        rng = np.random.default_rng([seed, len(hps["order_encoding"]), int(data.orders.max())])
        n = len(data.indices("test"))
        return {**{f"probs_{k}": rng.dirichlet(np.ones(len(data.classes)), n) for k in variants},
                "val_accuracy": np.array([0.5, 0.9, 0.95]), "best_val_accuracy": np.float64(0.95), "best_epoch": np.int64(3)}

    monkeypatch.setattr(Rp, "run_search", search)
    monkeypatch.setattr(Rp, "retrain", retrain)
    monkeypatch.setattr(Pr, "render_report", lambda folder: None)  # the searches' folders are fakes
    return calls


def test_seeds_of_repeats_searches_and_retrainings():
    cfg = types.SimpleNamespace(tuner=types.SimpleNamespace(seed=7), data=types.SimpleNamespace(split=types.SimpleNamespace(seed=4)))
    assert Rp.repeat_seeds(cfg, 0) == (4, 7) and Rp.repeat_seeds(cfg, 3) == (7, 10)
    retrain = {s for r in range(5) for s in Rp.retrain_seeds(cfg, r, 5)}
    search = {Rp.repeat_seeds(cfg, r)[1] for r in range(Rp.RETRAIN_SALT)}
    assert len(retrain) == 25 and not retrain & search
    assert Rp.retrain_seeds(cfg, 1, 2) == [20007, 20008]


def test_repeats_share_a_split_per_repeat_and_every_retraining_is_paired(tmp_path, fakes):
    cfg = _cfg(tmp_path)
    result = Pr.run_benchmark(cfg, tmp_path / "b", seeds=2, repeats=2, reps=200)
    searches = fakes["search"]
    assert [(s[0], s[1], s[2], s[3]) for s in searches] == [
        ("repeat-0", "image_only", 7, 4), ("repeat-0", "order_aware", 7, 4),
        ("repeat-1", "image_only", 8, 5), ("repeat-1", "order_aware", 8, 5)]
    assert np.array_equal(searches[0][4], searches[1][4]) and not np.array_equal(searches[0][4], searches[2][4])
    # Per seed: image-only, order-aware, and the order-aware configuration again with a constant order.
    assert fakes["retrain"][:3] == [(10007, "image_only", 3), (10007, "order_aware", 3), (10007, "order_aware", 1)]
    assert len(fakes["retrain"]) == 2 * 2 * 3
    assert [r.seeds for r in result.repeats] == [[10007, 10008], [20007, 20008]]
    assert [(r.split_seed, r.search_seed) for r in result.repeats] == [(4, 7), (5, 8)]
    assert set(result.repeats[0].retrains) == {"image_only", "order_aware", "architecture_only"}
    assert result.repeats[1].searches["order_aware"].run_dir == "repeat-1/order_aware"
    assert result.view_classifier is not None and len(result.view_classifier.per_repeat) == 2
    preds = read_predictions(tmp_path / "b")
    assert set(preds.arm) >= {"image_only", "order_aware", "shuffled_order", "architecture_only", "noncompliance_20pct",
                              "order_unknown", "order_only", "majority_class"}
    assert (tmp_path / "b" / "report.md").exists()


def test_published_figures_recompute_from_the_folder(tmp_path, fakes):
    Pr.run_benchmark(_cfg(tmp_path), tmp_path / "b", seeds=2, repeats=2, reps=300)
    data = json.loads((tmp_path / "b" / "benchmark.json").read_text())
    again = figures_from_folder(tmp_path / "b")

    assert_same_figures(again, data)
    assert again["gain"]["mean"] != 0.0


def test_a_killed_benchmark_resumes_without_redoing_finished_work(tmp_path, fakes):
    cfg = _cfg(tmp_path)
    fakes["fail_after"] = 7  # killed in repeat 1, after its first retraining
    with pytest.raises(KeyboardInterrupt):
        Pr.run_benchmark(cfg, tmp_path / "b", seeds=2, repeats=2, reps=100)
    assert len(list((tmp_path / "b").glob("repeat-*/retrain/*.npz"))) == 7
    fakes["fail_after"] = None
    done = len(fakes["retrain"])
    lines = []
    first = Pr.run_benchmark(cfg, tmp_path / "b", seeds=2, repeats=2, reps=100, log=lines.append)
    assert len(fakes["retrain"]) - done == 12 - 7  # only what was missing
    # Progress: each retraining k/N of its repeat; read back when done earlier; its best epoch, seconds, an ETA.
    progress = [line for line in lines if "] seed " in line]
    assert sum("done earlier, read back" in line for line in progress) == 7
    assert "[repeat 1 image_only] seed 20008: retraining the best configuration (4/6)" in progress
    ran = [line for line in progress if "val_accuracy" in line]
    assert len(ran) == 5 and all("at epoch 3 of 3 run (at most 3)" in line for line in ran)
    assert "left in this repeat" in ran[0] and "(6/6)" in ran[-1] and "left" not in ran[-1]
    done = len(fakes["retrain"])
    more = Pr.run_benchmark(cfg, tmp_path / "b", seeds=3, repeats=3, reps=100)  # raising K and S adds work only
    assert len(fakes["retrain"]) - done == 3 * 9 - 12
    assert more.repeats[0].accuracy["image_only"]["10007"] == first.repeats[0].accuracy["image_only"]["10007"]
    assert read_benchmark(tmp_path / "b").n_repeats == 3


def test_state_refuses_another_config_an_old_protocol_and_a_foreign_folder(tmp_path, fakes):
    cfg = _cfg(tmp_path)
    Pr.run_benchmark(cfg, tmp_path / "b", seeds=1, repeats=1, reps=50)
    with pytest.raises(RunError, match=r"different config; resuming is refused \(tuner.epochs: 3 -> 4\)"):
        Pr.run_benchmark(_cfg(tmp_path, epochs=4), tmp_path / "b", seeds=1, repeats=1, reps=50)
    write_image(tmp_path / "data" / "img" / "a0_1.png", value=7, mark=0)  # a photo edited since
    with pytest.raises(RunError, match="started on different data"):  # its retrainings would not fit the photos
        Pr.run_benchmark(cfg, tmp_path / "b", seeds=1, repeats=1, reps=50)
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / Pr.STATE).write_text(json.dumps({"config": {}, "seeds": 3}))
    with pytest.raises(RunError, match="benchmark protocol 1.*cannot be resumed"):
        Pr.run_benchmark(cfg, tmp_path / "old", seeds=1)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(RunError, match="not an autoorder benchmark"):
        Pr.run_benchmark(cfg, tmp_path / "mine")
    for bad in ({"seeds": 0}, {"repeats": 0}, {"repeats": Rp.RETRAIN_SALT}):
        with pytest.raises(Exception, match=r"option of benchmark must be an int in \[1, 9999\]"):
            Pr.run_benchmark(cfg, tmp_path / "c", **bad)


def test_a_retraining_stores_cached_features_in_the_configured_dtype(tmp_path, monkeypatch):
    """cache.dtype reaches the retrainings' feature cache too, not only the search's."""
    from autoorder.benchmarking import retrain as Rt
    from autoorder.data.dataset import load_dataset
    from autoorder.model.catalog import registry_for

    manifest = simple_dataset(tmp_path / "data", classes=("a", "b", "c"), objects_per_class=6)
    cfg = from_dict(
        {"data": {"manifest": str(manifest), "image_size": 16, "split": {"val": 0.2, "test": 0.3, "seed": 4}},
         "space": {"backbones": "tiny_cnn", "weights": None, "freeze": "all", "head_depth": 0,
                   "order_encodings": "none", "learning_rate": 0.01},
         "tuner": {"max_trials": 1, "epochs": 1, "seed": 7},
         "cache": {"dtype": "float16"},
         "plugins": {"paths": [], "entry_points": False}},
        "c.yaml", tmp_path)
    made = []

    class Recording(Rt.FeatureCache):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            made.append(self.dtype)

    monkeypatch.setattr(Rt, "FeatureCache", Recording)
    data = load_dataset(cfg)
    hps = {"backbone": "tiny_cnn", "tiny_cnn/freeze": "all", "head_depth": 0, "dropout": 0.2,
           "order_encoding": "none", "learning_rate": 0.01, "class_weight": "none"}
    out = Rt.retrain(cfg, registry_for(cfg), data, hps, 3, {"o": data.orders[data.indices("test")]})
    assert made == ["float16"]
    assert out["probs_o"].shape == (len(data.indices("test")), len(data.classes))


def test_raising_max_trials_grows_the_searches_and_remakes_only_stale_retrainings(tmp_path, fakes, monkeypatch):
    """A benchmark resumed with a larger tuner.max_trials grows each search (as `autoorder search` does);
    where the grown search picks another configuration, that arm's retrainings are made again."""
    runs: dict = {}  # search folder -> what it "found" with how many trials

    def search(cfg, out, **kw):
        fakes["search"].append((out.parent.name, out.name, cfg.tuner.max_trials))
        # The order-aware search finds a better configuration with more trials; the image-only one does not.
        pick = f"onehot-{cfg.tuner.max_trials}" if out.name == "order_aware" else "none"
        runs[out] = (cfg.tuner.max_trials, types.SimpleNamespace(best=BestModel(trial="0", hyperparameters={"order_encoding": pick}), trials=[]))
        return runs[out][1]

    monkeypatch.setattr(Rp, "run_search", search)
    monkeypatch.setattr(Rp, "_earlier", lambda out: runs[out][1] if out in runs else None)
    monkeypatch.setattr(Rp, "finished", lambda out, resolved: runs[out] if runs[out][0] >= resolved["tuner"]["max_trials"] else None)
    first = Pr.run_benchmark(_cfg(tmp_path), tmp_path / "b", seeds=2, repeats=2, reps=100)
    assert len(fakes["retrain"]) == 2 * 2 * 3
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "b").glob("repeat-0/retrain/*.npz")}

    fakes["retrain"].clear()
    fakes["search"].clear()
    lines = []
    grown = Pr.run_benchmark(_cfg(tmp_path, max_trials=2), tmp_path / "b", seeds=2, repeats=2, reps=100, log=lines.append)
    assert [s[1:] for s in fakes["search"]] == [("image_only", 2), ("order_aware", 2)] * 2  # both grown
    # Only the order-aware configuration changed: it and its architecture-only control are retrained, image-only is kept.
    assert sorted({(hps, n) for _, hps, n in fakes["retrain"]}) == [("onehot-2", 1), ("onehot-2", 3)]
    assert len(fakes["retrain"]) == 2 * 2 * 2
    assert sum("picked another configuration: its 4 retrainings are made again" in line for line in lines) == 2
    again = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "b").glob("repeat-0/retrain/*.npz")}
    assert {n for n in again if again[n] == stamps[n]} == {"image_only-seed10007.npz", "image_only-seed10008.npz"}
    assert grown.repeats[0].accuracy["image_only"] == first.repeats[0].accuracy["image_only"]
    assert grown.repeats[0].searches["order_aware"].best.hyperparameters == {"order_encoding": "onehot-2"}

    fakes["retrain"].clear()
    Pr.run_benchmark(_cfg(tmp_path, max_trials=2), tmp_path / "b", seeds=2, repeats=2, reps=100)
    assert fakes["retrain"] == []  # nothing left to do


def test_a_stored_retraining_of_another_configuration_is_made_again(tmp_path, fakes):
    cfg = _cfg(tmp_path)
    Pr.run_benchmark(cfg, tmp_path / "b", seeds=1, repeats=1, reps=50)
    path = tmp_path / "b" / "repeat-0" / "retrain" / "order_aware-seed10007.npz"
    with np.load(path) as z:
        stored = {k: z[k] for k in z.files}
    assert json.loads(str(stored[Rp.MADE_FROM])) == {"order_encoding": "order_aware"}
    np.savez(path, **{**stored, Rp.MADE_FROM: np.array(json.dumps({"order_encoding": "film"}))})  # say, killed mid-growth
    fakes["retrain"].clear()
    Pr.run_benchmark(cfg, tmp_path / "b", seeds=1, repeats=1, reps=50)
    assert fakes["retrain"] == [(10007, "order_aware", 3)]
