"""benchmark.json: committed files load, damage is named, the report's reader sees typed figures."""

from __future__ import annotations

import json
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
    files = sorted(ROOT.glob("benchmarks/*/results/benchmark.json"))
    assert files
    for path in files:
        bench = read_benchmark(path.parent)
        assert bench.gain.mean is not None and bench.seeds and set(bench.searches) == {"image_only", "order_aware"}
        assert bench.order_aware.test_accuracy.per_seed and bench.controls["shuffled_order"].what
        write_benchmark(tmp_path, bench)
        again = read_benchmark(tmp_path)
        assert again == bench and json.loads((tmp_path / "benchmark.json").read_text())["schema_version"] == SCHEMA_VERSION


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
    assert bench.seed_names() == ["0"] and bench.arm("order_aware").test_accuracy.mean == 0.7
