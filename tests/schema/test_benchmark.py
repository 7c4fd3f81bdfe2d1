"""benchmark.json: committed files load, damage is named, the report's reader sees typed figures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from autoorder.core.errors import RunError
from autoorder.schema.benchmark import (
    SCHEMA_VERSION,
    BenchmarkResult,
    read_benchmark,
    write_benchmark,
)

ROOT = Path(__file__).resolve().parents[2]


def test_committed_benchmarks_load_and_round_trip(tmp_path):
    """Every committed benchmark.json loads: version 1 is converted (one repeat, protocol 1), version 2 as it is."""
    files = sorted(ROOT.glob("benchmarks/*/results/benchmark.json"))
    v1 = sorted((ROOT / "tests" / "data" / "benchmark-v1").glob("*.json"))  # as committed before protocol 2
    assert files and v1
    for path in files + v1:
        raw = json.loads(path.read_text())
        if path.parent.name == "benchmark-v1":
            folder = tmp_path / "v1" / path.stem
            folder.mkdir(parents=True)
            shutil.copy(path, folder / "benchmark.json")
        else:
            folder = path.parent
        bench = read_benchmark(folder)
        assert bench.gain.mean is not None and bench.repeats and bench.repeats[0].seeds
        assert set(bench.repeats[0].searches) == {"image_only", "order_aware"}
        assert bench.repeats[0].accuracy["order_aware"] and bench.controls["shuffled_order"].what
        if raw.get("schema_version", 1) == 1:
            assert bench.protocol == 1 and bench.n_repeats == 1
            assert bench.gain.mean == raw["gain"]["mean"] and bench.gain.low == raw["gain"]["low"]
            assert bench.repeats[0].gain == raw["gain"]["per_seed"]
            assert bench.controls["order_only"].value == raw["controls"]["order_only"]["accuracy"]
        write_benchmark(tmp_path, bench)
        again = read_benchmark(tmp_path)
        assert again == bench and json.loads((tmp_path / "benchmark.json").read_text())["schema_version"] == SCHEMA_VERSION


def test_every_committed_figure_recomputes_from_its_predictions_file():
    """What benchmarks/ publishes is what its committed predictions.csv.gz gives, to 12 digits (issue 13's
    promise): gains, intervals, p-values, controls, per-class and per-repeat figures of every protocol-2 row."""
    from autoorder.benchmarking.figures import figures_from_folder
    from tests.helpers import assert_same_figures

    rows = [p.parent for p in sorted(ROOT.glob("benchmarks/*/results/benchmark.json"))
            if json.loads(p.read_text()).get("schema_version", 1) >= 2]
    assert rows
    for folder in rows:
        assert_same_figures(figures_from_folder(folder), json.loads((folder / "benchmark.json").read_text()), folder.parent.name)


def test_version_2_round_trips_and_a_future_version_is_refused(tmp_path):
    from autoorder.benchmarking.figures import compute_figures
    from tests.helpers import fake_predictions

    figures = compute_figures(fake_predictions(repeats=2, seeds=2, objects=12), reps=100)
    bench = BenchmarkResult.from_json({"schema_version": SCHEMA_VERSION, **figures, "predictions": "predictions.csv.gz"})
    assert bench.protocol == 2 and bench.n_repeats == 2 and bench.seeds_per_repeat() == [2, 2]
    assert bench.controls["noncompliance"].levels["20%"].has_interval and bench.gain.p_positive is not None
    write_benchmark(tmp_path, bench)
    assert read_benchmark(tmp_path) == bench
    data = json.loads((tmp_path / "benchmark.json").read_text())
    data["schema_version"] = SCHEMA_VERSION + 1
    (tmp_path / "benchmark.json").write_text(json.dumps(data))
    with pytest.raises(RunError, match=rf"schema_version {SCHEMA_VERSION + 1}, newer than this autoorder reads"):
        read_benchmark(tmp_path)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"trials": []}, r"key 'image_only' is missing"),
        ({"image_only": {"test_accuracy": {}}, "order_aware": {"test_accuracy": {}}, "gain": {}}, r"key 'gain\.mean' must be a number"),
        ({"image_only": {"test_accuracy": {"mean": "x"}}, "order_aware": {"test_accuracy": {}}, "gain": {"mean": 0.1}},
         r"key 'image_only\.test_accuracy\.mean' must be a number or null"),
    ],
)
def test_damaged_benchmarks_are_named(tmp_path, data, message):
    (tmp_path / "benchmark.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(RunError, match=message):
        read_benchmark(tmp_path)


def test_from_json_without_a_file():
    bench = BenchmarkResult.from_json({"image_only": {"test_accuracy": {"mean": 0.5}}, "order_aware": {"test_accuracy": {"mean": 0.7}},
                                       "gain": {"mean": 0.2, "per_seed": {"0": 0.2}}})
    assert bench.repeats[0].gain == {"0": 0.2} and bench.arm("order_aware").test_accuracy.mean == 0.7
    with pytest.raises(RunError, match=r"key 'repeats\[0\]\.repeat' is missing"):
        BenchmarkResult.from_json({"schema_version": 2, "image_only": {"test_accuracy": {}}, "order_aware": {"test_accuracy": {}},
                                   "gain": {"mean": 0.1}, "repeats": [{}]})
