"""Results of a run as plain data: read and written without TensorFlow, so reports are fast."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from autoorder.fileio import read_json, write_csv, write_json

RESULTS = "results.json"
TRIALS_CSV = "trials.csv"
RESOLVED = "config.resolved.yaml"
BEST_MODEL = "best_model.keras"
LABELS = "labels.json"
SPLIT_CSV = "split.csv"
TEST_PREDICTIONS = "test_predictions.csv"


def is_finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def ranked(trials: list[dict]) -> list[dict]:
    """Completed trials with a finite score, best first (failed trials are never ranked)."""
    ok = [t for t in trials if t.get("status") == "COMPLETED" and is_finite(t.get("val_accuracy"))]
    return sorted(ok, key=lambda t: (-t["val_accuracy"], t.get("seconds") or 0.0, t["id"]))


def hp_columns(trials: list[dict]) -> list[str]:
    cols: list[str] = []
    for t in trials:
        for k in t.get("hyperparameters", {}):
            if k not in cols and not k.startswith("tuner/"):
                cols.append(k)
    return cols


def write_trials_csv(run_dir: Path, trials: list[dict]) -> None:
    cols = hp_columns(trials)
    rank = {t["id"]: i for i, t in enumerate(ranked(trials), start=1)}
    rows = []
    for t in sorted(trials, key=lambda t: (rank.get(t["id"], 10**9), t["id"])):
        hps = t.get("hyperparameters", {})
        rows.append(
            [rank.get(t["id"], ""), t["id"], t["status"], t.get("val_accuracy"), t.get("seconds"), *[hps.get(c, "") for c in cols], t.get("reason", "")]
        )
    write_csv(run_dir / TRIALS_CSV, ["rank", "trial", "status", "val_accuracy", "seconds", *cols, "reason"], rows)


def write_results(run_dir: Path, results: dict) -> None:
    write_json(run_dir / RESULTS, results)
    write_trials_csv(run_dir, results["trials"])


def read_results(run_dir: str | Path) -> dict:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        from autoorder.errors import RunError

        raise RunError(f"Run folder {str(run_dir)!r} does not exist. Expected the --out folder of a search.")
    return read_json(run_dir / RESULTS, "results file")


def format_hps(hps: dict) -> str:
    keys = [k for k in hps if not k.startswith("tuner/")]
    return ", ".join(f"{k}={hps[k]}" for k in keys)
