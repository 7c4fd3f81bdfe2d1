"""run_search: one backbone pass per search; head-only trials write no backbone; collapsed trials; the same scores twice."""

import csv

import pytest

from autoorder.core.config import from_dict
from tests.fakes import SEEN, registry
from tests.helpers import simple_dataset


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
    # One pass over every image for the cache; the test split is scored from the cache, the exported
    # model spot-checked on a few test photos.
    from autoorder.run.export import SPOT_CHECK

    assert int(SEEN.numpy()) == n + min(n_test, SPOT_CHECK)


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



def _glyph_search(tmp_path, learning_rates, **tuner):
    """A small learnable search: two glyph classes that differ in shape (o, x), 16 px."""
    from autoorder.data.generators import make_dataset

    manifest = make_dataset("glyph-views", tmp_path / "glyphs", seed=0, objects=60, image_size=16, classes="ox")
    return from_dict(
        {
            "data": {"manifest": str(manifest), "image_size": 16},
            "space": {"backbones": "tiny_cnn", "weights": None, "freeze": "none", "head_depth": 0,
                      "order_encodings": "none", "learning_rate": learning_rates, "batch_size": 8},
            "tuner": {"max_trials": len(learning_rates), "epochs": 4, "patience": 0, "seed": 0, **tuner},
            "plugins": {"paths": [], "entry_points": False},
        },
        "c.yaml",
        tmp_path,
    )


@pytest.mark.slow
def test_a_collapsed_trial_is_marked_and_never_ranked_above_a_healthy_one(tmp_path):
    from autoorder.run.search import run_search

    # A learning rate of 1.0 (clipped, so no NaN) leaves the model answering one class.
    res = run_search(_glyph_search(tmp_path, [1.0, 0.01]), tmp_path / "run")
    by_lr = {t.hyperparameters["learning_rate"]: t for t in res.trials}
    bad, good = by_lr[1.0], by_lr[0.01]
    assert bad.status == "COMPLETED" and bad.val_accuracy is not None  # finite: not a failed trial
    assert bad.collapsed and not good.collapsed
    assert bad.val_accuracy <= res.baseline.collapse_below < good.val_accuracy
    assert res.ranking == [good.id, bad.id] and res.best.trial == good.id
    assert any("1 trial(s) collapsed" in w for w in res.warnings)
    rows = list(csv.DictReader((tmp_path / "run" / "trials.csv").open()))
    assert {r["trial"]: r["collapsed"] for r in rows} == {good.id: "false", bad.id: "true"}
    assert all(r["epochs"] == "4" and r["converged"] in ("true", "false") for r in rows)


@pytest.mark.slow
def test_the_same_search_twice_gives_the_same_scores(tmp_path):
    """Per-trial seeds and deterministic ops: identical scores, whatever ran before in the process."""
    from autoorder.run.search import run_search

    cfg = _glyph_search(tmp_path, [0.01, 0.003, 0.001])
    first = run_search(cfg, tmp_path / "a")
    run_search(_glyph_search(tmp_path / "other", [0.02]), tmp_path / "between")  # other work in between
    second = run_search(cfg, tmp_path / "b")
    assert [(t.id, t.val_accuracy, t.best_epoch) for t in first.trials] == [(t.id, t.val_accuracy, t.best_epoch) for t in second.trials]
    assert first.best.test_accuracy == second.best.test_accuracy
    assert first.deterministic is True and first.machine.get("cpu_flags") is not None


def test_features_that_carry_nothing_are_said_once_before_the_first_trial(tmp_path):
    from autoorder.run.search import run_search
    from tests.fakes import Flat

    reg = registry()
    reg.register_backbone(Flat)
    manifest = simple_dataset(tmp_path / "data", classes=("a", "b"), objects_per_class=4)
    cfg = from_dict(
        {
            "data": {"manifest": str(manifest), "image_size": 16},
            "space": {"backbones": "flat", "weights": "imagenet", "freeze": ["p1", "all"], "order_encodings": "none"},
            "tuner": {"max_trials": 2, "epochs": 1, "patience": 0},
        },
        "c.yaml",
        tmp_path,
    )
    lines = []
    res = run_search(cfg, tmp_path / "run", registry=reg, log=lines.append)
    said = [line for line in lines if "hardly differ between images" in line]
    first_trial = next(i for i, line in enumerate(lines) if line.startswith("trial 1/"))
    assert len(said) == 1 and lines.index(said[0]) < first_trial
    assert said[0].startswith("warning: flat features at 'p1', 'all' hardly differ")
    assert any("hardly differ" in w for w in res.warnings) and res.cache.backbone_passes == 1


def test_a_search_needs_no_tensorboard_and_can_print_every_epoch(tmp_path, monkeypatch):
    import sys

    from autoorder.run.search import run_search

    monkeypatch.setitem(sys.modules, "tensorboard", None)  # `import tensorboard` now fails
    lines = []
    res = run_search(_glyph_search(tmp_path, [0.01], epochs=2), tmp_path / "run", log=lines.append, verbose=True)
    assert res.trials[0].status == "COMPLETED" and res.devices
    assert [line.split("  ")[0] for line in lines if " epoch " in line] == ["trial 0 epoch 1/2", "trial 0 epoch 2/2"]
    assert any(line.startswith("training on: ") for line in lines)


@pytest.mark.slow
def test_a_search_ranked_by_balanced_accuracy_with_class_weights(tmp_path):
    from autoorder.data.generators import make_dataset
    from autoorder.run.search import run_search

    manifest = make_dataset("glyph-views", tmp_path / "glyphs", seed=0, objects=45, image_size=16, classes="oxs")
    rows = manifest.read_text().splitlines()
    s_objects = sorted({r.split(",")[3] for r in rows[1:] if ",s," in r})  # image,label,order,object_id,view
    few = set(s_objects[: len(s_objects) // 3 + 1])  # 's' becomes the rare class (at least 3 objects kept)
    kept = [rows[0]] + [r for r in rows[1:] if ",s," not in r or r.split(",")[3] in few]
    manifest.write_text("\n".join(kept) + "\n")
    cfg = from_dict(
        {
            "data": {"manifest": str(manifest), "image_size": 16},
            "space": {"backbones": "tiny_cnn", "weights": None, "freeze": "none", "head_depth": 0, "order_encodings": "none",
                      "learning_rate": 0.01, "batch_size": 8, "class_weight": ["none", "balanced"]},
            "tuner": {"max_trials": 2, "epochs": 3, "patience": 0, "seed": 0, "objective": "val_balanced_accuracy"},
            "plugins": {"paths": [], "entry_points": False},
        },
        "c.yaml",
        tmp_path,
    )
    res = run_search(cfg, tmp_path / "run")
    assert res.objective == "val_balanced_accuracy"
    assert {t.hyperparameters["class_weight"] for t in res.trials} == {"none", "balanced"}
    assert all(t.score is not None and t.val_accuracy is not None for t in res.trials)
    healthy = [t for t in res.trials if not t.collapsed]
    assert res.best.score == max(t.score for t in healthy or res.trials)  # ranked by the objective
    header = (tmp_path / "run" / "trials.csv").read_text().splitlines()[0].split(",")
    assert "val_balanced_accuracy" in header and "class_weight" in header
