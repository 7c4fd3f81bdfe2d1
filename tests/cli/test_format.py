"""What the CLI prints for a benchmark: the gain with its interval, every control, the view classifier."""

from __future__ import annotations

import shutil
from pathlib import Path

from autoorder.benchmarking.figures import compute_figures
from autoorder.cli.format import format_benchmark, pct
from autoorder.schema.benchmark import SCHEMA_VERSION, BenchmarkResult, read_benchmark
from tests.helpers import fake_predictions

ROOT = Path(__file__).resolve().parents[2]


def test_a_protocol_2_benchmark_prints_gain_interval_p_positive_and_every_control():
    figures = compute_figures(fake_predictions(repeats=3, seeds=2, objects=15), reps=200)
    bench = BenchmarkResult.from_json({"schema_version": SCHEMA_VERSION, **figures,
                                       "view_classifier": {"accuracy": 0.976, "chance": 1 / 3, "per_repeat": [0.976]},
                                       "warnings": ["repeat 0, order_aware: 1 of 2 retraining(s) collapsed"]})
    text = format_benchmark(bench)
    g = bench.gain
    assert "mean over 3 repeats x 2 seeds; 95% interval: hierarchical bootstrap over repeats, seeds and test objects" in text
    assert f"gain         {100 * g.mean:+.1f} [{100 * g.low:+.1f}, {100 * g.high:+.1f}] points, P(gain > 0) = {g.p_positive:.3f}" in text
    for line in ("shuffled order at test", "constant order (architecture only)", "orders of 1% of objects permuted",
                 "orders of 20% of objects permuted", "every order unknown (0)", "order only", "majority class",
                 "per object", "balanced"):
        assert line in text
    assert "97.6% of test photos (always the most frequent: 33.3%)" in text
    assert text.endswith("warning: repeat 0, order_aware: 1 of 2 retraining(s) collapsed")


def test_intervals_are_printed_as_they_are_never_clipped():
    class Ci:
        mean, low, high = 0.99, 0.97, 1.02  # a version-1 Student-t interval can pass 100%

    assert pct(Ci()) == "99.0 [97.0, 102.0]" and pct(Ci(), signed=True) == "+99.0 [+97.0, +102.0]"


def test_a_version_1_benchmark_says_so(tmp_path):
    shutil.copy(ROOT / "tests" / "data" / "benchmark-v1" / "glyph-views.json", tmp_path / "benchmark.json")
    bench = read_benchmark(tmp_path)
    assert bench.protocol == 1
    assert "Student-t over seeds (version 1)" in format_benchmark(bench)
