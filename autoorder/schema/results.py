"""results.json of a run folder: every trial, the ranking, the best model, the baseline.

Also the names of the files a run folder holds, and trials.csv (one row per trial, ranked).
Version history: 1 (no `schema_version` key in files written before it was recorded; `timings`
added later in version 1, absent from older files).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoorder.core.errors import RunError
from autoorder.core.fileio import read_json, write_csv, write_json
from autoorder.schema.records import Source, check_version, dump, load

SCHEMA_VERSION = 1

RESULTS = "results.json"
TRIALS_CSV = "trials.csv"
RESOLVED = "config.resolved.yaml"
BEST_MODEL = "best_model.keras"
LABELS = "labels.json"
SPLIT_CSV = "split.csv"
SPLIT_HEADER = ["line", "image", "label", "order", "object_id", "split", "sha256"]  # sha256: of the image file
TEST_PREDICTIONS = "test_predictions.csv"

COMPLETED = "COMPLETED"


def is_finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


@dataclass
class TrialRecord:
    """One trial: its hyperparameters (inactive ones are None), best val_accuracy and time."""

    id: str
    status: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    val_accuracy: float | None = None
    best_epoch: int | None = None
    seconds: float | None = None
    reason: str = ""
    epochs: int | None = None  # epochs run (fewer than tuner.epochs: stopped early)
    converged: bool | None = None  # had stopped improving (autoorder.core.stats.converged)
    collapsed: bool = False  # did not beat the majority class by a clear margin on validation
    score: float | None = None  # the objective's value (results.objective), at the best epoch

    @property
    def objective_value(self) -> float | None:
        """What trials are ranked by: `score`, or val_accuracy in files written before `score`."""
        return self.score if self.score is not None else self.val_accuracy

    @property
    def scored(self) -> bool:
        """Completed with a finite score: only such trials are ranked."""
        return self.status == COMPLETED and is_finite(self.objective_value)


@dataclass
class OrderAccuracy:
    n: int
    accuracy: float | None = None


@dataclass
class BestModel:
    """The exported best trial and its accuracy on the held-out test split."""

    trial: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    val_accuracy: float | None = None
    test_accuracy: float | None = None
    score: float | None = None  # the objective's value on validation (results.objective)
    test_images: int | None = None
    test_per_order: dict[str, OrderAccuracy] = field(default_factory=dict)
    model: str | None = None
    keras_version: str | None = None


@dataclass
class MajorityBaseline:
    """Always answering the most frequent training label: the floor any model must beat."""

    label: str
    val_accuracy: float | None = None
    test_accuracy: float | None = None


@dataclass
class Baseline:
    majority_class: MajorityBaseline | None = None
    # A trial whose val_accuracy does not exceed this is marked collapsed (ranked after the others).
    collapse_below: float | None = None


@dataclass
class SkippedRow:
    line: int | None = None
    reason: str = ""


@dataclass
class DatasetSummary:
    """What the data was: sizes, classes, split, conversions, its fingerprint."""

    manifest: str | None = None
    images: int | None = None
    objects: int | None = None
    classes: list[str] = field(default_factory=list)
    images_per_split: dict[str, int] = field(default_factory=dict)
    objects_per_split: dict[str, int] = field(default_factory=dict)
    order_values_train: list[int] | None = None
    has_order: bool | None = None
    image_size: int | None = None
    converted_images: dict[str, int] = field(default_factory=dict)
    exif_rotated: int = 0
    skipped_rows: list[SkippedRow] = field(default_factory=list)
    fingerprint: str | None = None
    name: str | None = None  # benchmarks: the generator's name, or the data folder's
    # Rows whose image file repeats an earlier row's: in the same object, under another label,
    # in another object (absent from files written before the check existed: 0).
    repeated_images: int = 0
    cross_label_images: int = 0
    shared_images: int = 0
    warnings: list[str] = field(default_factory=list)  # about the data (duplicates kept by data.on_duplicate: warn)


@dataclass
class Distributed:
    workers: list[str] = field(default_factory=list)
    reassigned: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class CacheStats:
    backbone_passes: int | None = None


@dataclass
class Timings:
    """Where a search spent its time (this process; a distributed chief trains nothing)."""

    total_seconds: float | None = None
    backbone_pass_seconds: float | None = None  # the feature cache's passes over the data
    fit_seconds: float | None = None  # inside model.fit, summed over trials
    export_seconds: float | None = None  # rebuilding, saving and testing the best model


@dataclass
class RunResults:
    """results.json."""

    trials: list[TrialRecord]
    schema_version: int = SCHEMA_VERSION
    objective: str = "val_accuracy"  # what trials are ranked by (tuner.objective)
    autoorder_version: str | None = None
    run_dir: str | None = None
    config: str | None = None
    dataset: DatasetSummary | None = None
    ranking: list[str] = field(default_factory=list)
    best: BestModel | None = None
    versions: dict[str, str | None] = field(default_factory=dict)
    seconds: float | None = None
    stopped: str | None = None
    distributed: Distributed | None = None
    cache: CacheStats | None = None
    timings: Timings | None = None
    baseline: Baseline | None = None
    warnings: list[str] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=dict)  # what makes scores differ across machines
    deterministic: bool | None = None  # tuner.deterministic: the same scores twice on this machine
    devices: list[str] = field(default_factory=list)  # what TensorFlow trained on ("CPU only", GPU names)

    def ranked(self) -> list[TrialRecord]:
        return ranked(self.trials)

    def to_json(self) -> dict:
        data = dump(self)
        for key in ("distributed", "cache", "timings", "baseline"):
            if data.get(key) is None:
                data.pop(key)  # absent rather than null, as before versions were recorded
        return data

    @classmethod
    def from_json(cls, data: Any, path: str | Path | None = None) -> "RunResults":
        source = Source("results file", path)
        check_version(data, SCHEMA_VERSION, source)
        return load(cls, data, source)


def ranked(trials: list[TrialRecord]) -> list[TrialRecord]:
    """Completed trials with a finite score, best first; equal scores: the earlier best epoch first
    (it learnt with less training), then the lower trial id. Never wall time, which differs from
    run to run: the same search twice picks the same best trial. A collapsed trial never ranks
    above a healthy one."""
    return sorted((t for t in trials if t.scored), key=lambda t: (t.collapsed, -t.objective_value, _epoch_key(t), _id_key(t)))


def _epoch_key(t: TrialRecord) -> int:
    return t.best_epoch if isinstance(t.best_epoch, int) else 1 << 30


def _id_key(t: TrialRecord) -> tuple[int, str]:
    return (int(t.id), "") if t.id.isdigit() else (1 << 30, t.id)


def hp_columns(trials: list[TrialRecord]) -> list[str]:
    cols: list[str] = []
    for t in trials:
        for k in t.hyperparameters:
            if k not in cols and not k.startswith("tuner/"):
                cols.append(k)
    return cols


def write_trials_csv(run_dir: Path, trials: list[TrialRecord], objective: str | None = None) -> None:
    """trials.csv, ranked; `objective` adds its column when it is not val_accuracy."""
    cols = hp_columns(trials)
    rank = {t.id: i for i, t in enumerate(ranked(trials), start=1)}
    rows = []
    for t in sorted(trials, key=lambda t: (rank.get(t.id, 10**9), t.id)):
        hps = t.hyperparameters
        flags = ["" if v is None else str(v).lower() for v in (t.converged, t.collapsed)]
        rows.append([rank.get(t.id, ""), t.id, t.status, t.val_accuracy, t.seconds, t.best_epoch, t.epochs, *flags,
                     *([t.objective_value] if objective else []), *[hps.get(c, "") for c in cols], t.reason])
    header = ["rank", "trial", "status", "val_accuracy", "seconds", "best_epoch", "epochs", "converged", "collapsed"]
    header += [objective] if objective else []
    write_csv(run_dir / TRIALS_CSV, [*header, *cols, "reason"], rows)


def write_results(run_dir: str | Path, results: RunResults) -> None:
    """results.json and trials.csv, each written atomically."""
    run_dir = Path(run_dir)
    write_json(run_dir / RESULTS, results.to_json())
    write_trials_csv(run_dir, results.trials, results.objective if results.objective != "val_accuracy" else None)


def read_results(run_dir: str | Path) -> RunResults:
    """RUN_DIR/results.json, checked.

    Raises:
        RunError: the folder or the file is missing, corrupt, or not an autoorder results file.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"Run folder {str(run_dir)!r} does not exist. Expected the --out folder of a search.")
    path = run_dir / RESULTS
    return RunResults.from_json(read_json(path, "results file"), path)
