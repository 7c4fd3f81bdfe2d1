"""results.json: what a run writes loads back; files from before schema_version load; damage is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autoorder.core.errors import RunError
from autoorder.schema.results import (
    SCHEMA_VERSION,
    BestModel,
    RunResults,
    TrialRecord,
    ranked,
    read_results,
    write_results,
)

ROOT = Path(__file__).resolve().parents[2]


def _results() -> RunResults:
    trials = [
        TrialRecord("0", "COMPLETED", {"backbone": "tiny_cnn", "tuner/epochs": 2}, 0.75, 3, 2.0),
        TrialRecord("1", "FAILED", {"backbone": "tiny_cnn"}, None, None, 0.5, "ValueError: boom"),
        TrialRecord("2", "COMPLETED", {"backbone": "tiny_cnn"}, 0.75, 2, 1.0),
        TrialRecord("3", "COMPLETED", {"backbone": "tiny_cnn"}, 0.9, 1, 4.0),
    ]
    return RunResults(trials=trials, ranking=["3", "2", "0"], best=BestModel("3", {"backbone": "tiny_cnn"}, 0.9, 0.8, 10))


def test_written_results_read_back_equal(tmp_path):
    res = _results()
    write_results(tmp_path, res)
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["schema_version"] == SCHEMA_VERSION and "timings" not in data  # absent, not null
    assert read_results(tmp_path) == res
    rows = (tmp_path / "trials.csv").read_text().splitlines()
    assert rows[0].startswith("rank,trial,status,val_accuracy,seconds,best_epoch,epochs,converged,collapsed,backbone,reason")
    assert [r.split(",")[1] for r in rows[1:]] == ["3", "2", "0", "1"]  # ranked; ties: the earlier best epoch first; failed last


def test_ranking_keeps_only_finite_completed_scores_best_first_ties_by_best_epoch_then_id():
    assert [t.id for t in ranked(_results().trials)] == ["3", "2", "0"]
    # Wall time never decides (it differs from run to run); ids compare as numbers.
    tied = [TrialRecord(i, "COMPLETED", {}, 0.8, epoch, seconds) for i, epoch, seconds in
            [("10", 2, 0.1), ("2", 2, 9.0), ("7", 3, 0.1), ("11", 1, 50.0)]]
    assert [t.id for t in ranked(tied)] == ["11", "2", "10", "7"]


def test_committed_results_files_still_load():
    """Files written before results.json carried a schema_version (benchmarks/ holds some)."""
    measurements = ("perf", "scale")  # benchmarks/perf and benchmarks/scale (and their subfolders) hold measurements, not runs
    files = [p for p in ROOT.glob("benchmarks/**/results.json") if p.relative_to(ROOT / "benchmarks").parts[0] not in measurements]
    assert files
    for path in files:
        res = read_results(path.parent)
        assert res.trials and res.schema_version == 1


@pytest.mark.parametrize(
    "content, message",
    [
        ("[1, 2]", r"results file '.*results\.json' is not valid: the top level must be an object"),
        ('{"trials": [', r"results file '.*results\.json' is corrupt"),
        ('{"trials": [{"id": "0"}]}', r"key 'trials\[0\]\.status' is missing"),
        ('{"trials": [], "best": {"trial": "0", "val_accuracy": "high"}}', r"key 'best\.val_accuracy' must be a number or null"),
        ('{"trials": [], "schema_version": 99}', r"schema_version 99, newer than this autoorder reads"),
    ],
)
def test_damaged_results_are_named_by_file_and_key(tmp_path, content, message):
    (tmp_path / "results.json").write_text(content, encoding="utf-8")
    with pytest.raises(RunError, match=message):
        read_results(tmp_path)


def test_missing_folder_or_file(tmp_path):
    with pytest.raises(RunError, match="Run folder .*nope.* does not exist"):
        read_results(tmp_path / "nope")
    with pytest.raises(RunError, match=r"results file .* does not exist"):
        read_results(tmp_path)
