"""`autoorder benchmark --repeats 2 --seeds 2` end to end on a tiny dataset (real searches and
retrainings, one epoch each): the files it writes, figures that recompute from its predictions,
`autoorder report` on the folder, and a second run that resumes without training anything."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from click.testing import CliRunner

from autoorder.benchmarking.figures import figures_from_folder
from autoorder.cli.main import main
from autoorder.schema.benchmark import read_benchmark
from autoorder.schema.predictions import read_predictions
from tests.helpers import assert_same_figures, simple_dataset

pytestmark = pytest.mark.slow


def _config(tmp_path):
    simple_dataset(tmp_path / "data", classes=("a", "b", "c"), objects_per_class=6)
    cfg = {
        "data": {"manifest": "data/manifest.csv", "image_size": 16, "split": {"val": 0.2, "test": 0.3, "seed": 0}},
        "space": {"backbones": "tiny_cnn", "weights": None, "freeze": "none", "head_depth": 0,
                  "order_encodings": ["none", "onehot"], "learning_rate": 0.01, "batch_size": 16},
        "tuner": {"max_trials": 1, "epochs": 1, "seed": 0, "patience": 0},
        "plugins": {"paths": [], "entry_points": False},
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_benchmark_two_repeats_two_seeds_end_to_end(tmp_path):
    config, out = _config(tmp_path), tmp_path / "bench"
    args = ["benchmark", str(config), "--out", str(out), "--repeats", "2", "--seeds", "2"]
    r = CliRunner().invoke(main, [*args, "-v"])
    assert r.exit_code == 0, r.output
    # -v: a line per epoch of every trial and retraining; each retraining's result with k/N.
    assert "[repeat 1 order_aware] trial 0 epoch 1/1" in r.output
    assert "[repeat 1 order_aware] seed 20000 epoch 1/1" in r.output
    assert re.search(r"\[repeat 0 image_only\] seed 10000: val_accuracy [0-9.]+ at epoch 1 of 1 run \(at most 1\) .*\(1/6\)", r.output)
    assert "mean over 2 repeats x 2 seeds" in r.output and "gain " in r.output and "P(gain > 0)" in r.output
    for line in ("shuffled order at test", "constant order (architecture only)", "orders of 20% of objects permuted",
                 "every order unknown (0)", "order only", "majority class", "view classifier"):
        assert line in r.output

    bench = read_benchmark(out)
    assert bench.protocol == 2 and bench.n_repeats == 2 and bench.seeds_per_repeat() == [2, 2]
    assert [r.search_seed for r in bench.repeats] == [0, 1] and [r.split_seed for r in bench.repeats] == [0, 1]
    assert not {s for rep in bench.repeats for s in rep.seeds} & {0, 1}  # retraining seeds are never search seeds
    assert set(bench.controls) == {"shuffled_order", "architecture_only", "noncompliance", "order_only", "majority_class"}
    assert set(bench.per_class["order_aware"]) == {"a", "b", "c"}
    for rep in bench.repeats:
        for arm in ("image_only", "order_aware"):
            assert (out / rep.searches[arm].run_dir / "results.json").exists()
            assert (out / rep.searches[arm].run_dir / "report.md").exists()
    preds = read_predictions(out)
    assert len(preds) == 2 * (2 * 8 + 2) * bench.repeats[0].test_images  # 8 seeded arms, 2 seed-free, per repeat

    assert_same_figures(figures_from_folder(out), json.loads((out / "benchmark.json").read_text()))

    (out / "report.md").unlink()
    r = CliRunner().invoke(main, ["report", str(out)])
    assert r.exit_code == 0, r.output
    assert (out / "report.md").exists() and "hierarchical bootstrap" in (out / "report.md").read_text()

    stamps = {p: p.stat().st_mtime_ns for p in out.glob("repeat-*/retrain/*.npz")}
    assert len(stamps) == 2 * 2 * 3
    r = CliRunner().invoke(main, args)  # the same command again: every search and retraining is reused
    assert r.exit_code == 0, r.output
    assert "retraining the best configuration" not in r.output and "trial 1/1" not in r.output
    assert "epoch 1/1" not in r.output and r.output.count("done earlier, read back") == 2 * 2 * 3
    assert {p: p.stat().st_mtime_ns for p in out.glob("repeat-*/retrain/*.npz")} == stamps
    assert read_benchmark(out).gain.mean == bench.gain.mean


def test_raising_max_trials_grows_a_finished_benchmark(tmp_path):
    """`--set tuner.max_trials=2` on a finished benchmark: each search keeps its trial and runs one more; a
    retraining is made again exactly when its search now picks another configuration."""
    config, out = _config(tmp_path), tmp_path / "bench"
    cfg = yaml.safe_load(config.read_text())
    cfg["space"]["learning_rate"] = [0.01, 0.001]  # two configurations per arm
    config.write_text(yaml.safe_dump(cfg))
    args = ["benchmark", str(config), "--out", str(out), "--repeats", "1", "--seeds", "1"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    before = read_benchmark(out)
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("repeat-0/retrain/*.npz")}
    r = CliRunner().invoke(main, [*args, "--set", "tuner.max_trials=2"])
    assert r.exit_code == 0, r.output
    after = read_benchmark(out)
    again = {p.name: p.stat().st_mtime_ns for p in out.glob("repeat-0/retrain/*.npz")}
    for arm, files in (("image_only", ["image_only"]), ("order_aware", ["order_aware", "architecture_only"])):
        search = after.repeats[0].searches[arm]
        assert len(search.trials) == 2 and search.max_trials == 2
        assert search.trials[0].hyperparameters == before.repeats[0].searches[arm].trials[0].hyperparameters  # kept
        changed = search.best.hyperparameters != before.repeats[0].searches[arm].best.hyperparameters
        for f in files:
            assert (again[f"{f}-seed10000.npz"] != stamps[f"{f}-seed10000.npz"]) == changed, (arm, f, r.output)
    r = CliRunner().invoke(main, [*args, "--set", "tuner.epochs=2"])
    assert r.exit_code != 0 and "tuner.epochs: 1 -> 2" in r.output
