"""Every figure of benchmark.json from the predictions table (plain numpy: no training, no TensorFlow)."""

from __future__ import annotations

import numpy as np
import pytest

from autoorder.benchmarking.figures import compute_figures, figures_from_folder
from autoorder.core.errors import RunError
from autoorder.core.fileio import write_json
from autoorder.schema.benchmark import SCHEMA_VERSION, BenchmarkResult, read_benchmark, write_benchmark
from autoorder.schema.predictions import NO_SEED, Predictions, read_predictions, write_predictions
from tests.helpers import fake_predictions

REPS = 400


@pytest.fixture(scope="module")
def preds():
    return fake_predictions(repeats=2, seeds=3, objects=20)


@pytest.fixture(scope="module")
def figures(preds):
    return compute_figures(preds, reps=REPS)


def _acc(preds: Predictions, repeat: int, arm: str, seed: int, mask=None) -> float:
    sel = (preds.repeat == repeat) & (preds.arm == arm) & (preds.seed == seed)
    if mask is not None:
        sel &= mask
    return float((preds.predicted[sel] == preds.label[sel]).mean())


def test_headline_is_the_mean_over_repeats_of_the_mean_over_seeds(preds, figures):
    by_repeat = []
    for r in (0, 1):
        seeds = sorted(set(preds.seed[(preds.repeat == r) & (preds.arm == "image_only")].tolist()))
        gains = [_acc(preds, r, "order_aware", s) - _acc(preds, r, "image_only", s) for s in seeds]
        by_repeat.append(np.mean(gains))
        assert figures["repeats"][r]["gain"] == {str(s): pytest.approx(g) for s, g in zip(seeds, gains)}
        assert figures["repeats"][r]["seeds"] == seeds
    assert figures["gain"]["mean"] == pytest.approx(np.mean(by_repeat))
    assert figures["gain"]["per_repeat"] == pytest.approx(by_repeat)
    assert figures["gain"]["low"] < figures["gain"]["mean"] < figures["gain"]["high"]
    assert 0 <= figures["gain"]["p_positive"] <= 1 and 0 < figures["gain"]["p_value"] <= 1
    io = figures["image_only"]["test_accuracy"]
    assert 0.0 <= io["low"] <= io["mean"] <= io["high"] <= 1.0
    assert io["images"] == 2 * 60 and io["objects"] == 2 * 20
    assert "2 repeats, 3 seeds each" in io["interval"]


def test_per_order_per_class_and_balanced(preds, figures):
    back = preds.order == 2
    want = np.mean([np.mean([_acc(preds, r, "order_aware", s, back) for s in sorted(set(preds.seed[(preds.repeat == r) & (preds.arm == "order_aware")].tolist()))])
                    for r in (0, 1)])
    assert figures["per_order"]["order_aware"]["2"]["mean"] == pytest.approx(want)
    assert set(figures["per_order"]["image_only"]) == {"0", "1", "2", "3"}
    assert figures["per_order"]["image_only"]["0"]["images"] == 2  # the one photo of unknown order per repeat
    assert set(figures["per_class"]["image_only"]) == {"bird", "cat", "dog"}
    per_class = [figures["per_class"]["order_aware"][c]["mean"] for c in ("bird", "cat", "dog")]
    # Balanced accuracy is the mean of per-class accuracies per repeat and seed; with equal weights per
    # repeat it stays between the smallest and the largest class.
    assert min(per_class) <= figures["order_aware"]["balanced_accuracy"]["mean"] <= max(per_class)
    assert figures["balanced_gain"]["mean"] == pytest.approx(
        figures["order_aware"]["balanced_accuracy"]["mean"] - figures["image_only"]["balanced_accuracy"]["mean"])


def test_controls_and_per_object(preds, figures):
    c = figures["controls"]
    assert list(c) == ["shuffled_order", "architecture_only", "noncompliance", "order_only", "majority_class"]
    assert list(c["noncompliance"]["levels"]) == ["1%", "5%", "20%", "unknown"]
    assert c["shuffled_order"]["mean"] == pytest.approx(figures["image_only"]["test_accuracy"]["mean"])  # the fake's rule
    assert c["noncompliance"]["levels"]["5%"]["mean"] == pytest.approx(figures["order_aware"]["test_accuracy"]["mean"])
    majority = np.mean([float((preds.label[(preds.repeat == r) & (preds.arm == "majority_class")] == "bird").mean()) for r in (0, 1)])
    assert c["majority_class"]["mean"] == pytest.approx(majority)
    assert all(c[k]["what"] for k in c)
    obj = figures["object_gain"]
    assert obj["mean"] == pytest.approx(figures["order_aware"]["object_accuracy"]["mean"] - figures["image_only"]["object_accuracy"]["mean"])
    assert figures["repeats"][0]["object_accuracy"]["order_aware"]


def test_the_same_predictions_give_the_same_figures_through_the_file(tmp_path, preds, figures):
    write_predictions(tmp_path, preds)
    first = (tmp_path / "predictions.csv.gz").read_bytes()
    write_predictions(tmp_path, read_predictions(tmp_path))
    assert (tmp_path / "predictions.csv.gz").read_bytes() == first  # deterministic bytes
    assert compute_figures(read_predictions(tmp_path), reps=REPS) == figures


def test_figures_from_folder_recompute_benchmark_json(tmp_path, preds, figures):
    write_predictions(tmp_path, preds)
    bench = BenchmarkResult.from_json({"schema_version": SCHEMA_VERSION, **{k: v for k, v in figures.items() if k != "repeats"},
                                       "repeats": figures["repeats"]})
    write_benchmark(tmp_path, bench)
    again = figures_from_folder(tmp_path)
    assert again == figures
    assert read_benchmark(tmp_path).gain.mean == again["gain"]["mean"]


def test_a_version_1_folder_has_nothing_to_recompute(tmp_path):
    write_json(tmp_path / "benchmark.json", {"image_only": {"test_accuracy": {"mean": 0.5}},
                                             "order_aware": {"test_accuracy": {"mean": 0.6}}, "gain": {"mean": 0.1}})
    with pytest.raises(RunError, match="protocol 1 .* kept no predictions file"):
        figures_from_folder(tmp_path)


def test_misaligned_predictions_are_refused(preds):
    image = preds.image.copy()
    sel = np.flatnonzero((preds.arm == "order_aware") & (preds.repeat == 1))
    image[sel[0]], image[sel[1]] = image[sel[1]], image[sel[0]]
    bad = Predictions(**{**preds.__dict__, "image": image})
    with pytest.raises(RunError, match="not aligned: repeat 1, arm 'order_aware'"):
        compute_figures(bad, reps=10)


def test_one_repeat_one_seed_still_has_an_interval_over_objects():
    preds = fake_predictions(repeats=1, seeds=1, objects=15)
    f = compute_figures(preds, reps=REPS)
    assert f["gain"]["low"] is not None and "no other split or search" in f["gain"]["interval"]
    assert (preds.seed == NO_SEED).sum() == 2 * 45


def test_figures_never_import_tensorflow():
    import subprocess
    import sys

    code = ("import sys, autoorder.benchmarking.figures, autoorder.core.bootstrap; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'framework imported'")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
