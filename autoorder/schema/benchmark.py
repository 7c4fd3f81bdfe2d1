"""benchmark.json of a benchmark folder: both arms per seed, the gain, the controls.

Version history: 1 (no `schema_version` key in files written before it was recorded).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoorder.core.errors import RunError
from autoorder.core.fileio import read_json, write_json
from autoorder.schema.records import SchemaError, Source, check_version, dump, load
from autoorder.schema.results import BestModel, DatasetSummary, TrialRecord, is_finite

SCHEMA_VERSION = 1
BENCHMARK_JSON = "benchmark.json"
ARMS = ("image_only", "order_aware")


@dataclass
class Estimate:
    """A mean over seeds with its 95% interval (`low`/`high` null with fewer than 2 seeds)."""

    mean: float | None = None
    low: float | None = None
    high: float | None = None
    n: int | None = None
    interval: str | None = None
    per_seed: dict[str, float | None] = field(default_factory=dict)
    objects: int | None = None  # per-object accuracies: how many test objects
    images: int | None = None  # per-order accuracies: how many test images

    @property
    def has_interval(self) -> bool:
        return is_finite(self.low) and is_finite(self.high)

    def seed_values(self, seeds: list[str]) -> list[float | None]:
        return [self.per_seed.get(s) for s in seeds]


@dataclass
class Bootstrap:
    """95% paired bootstrap over test objects."""

    mean: float | None = None
    low: float | None = None
    high: float | None = None
    reps: int | None = None
    interval: str | None = None

    @property
    def has_interval(self) -> bool:
        return is_finite(self.low) and is_finite(self.high)


@dataclass
class Gain(Estimate):
    bootstrap: Bootstrap | None = None
    excludes_zero: bool | None = None


@dataclass
class Control:
    """A control: an accuracy over seeds (an Estimate's fields) or a single `accuracy`."""

    what: str = ""
    accuracy: float | None = None
    mean: float | None = None
    low: float | None = None
    high: float | None = None
    n: int | None = None
    interval: str | None = None
    per_seed: dict[str, float | None] = field(default_factory=dict)

    @property
    def value(self) -> float | None:
        return self.mean if self.mean is not None else self.accuracy

    @property
    def has_interval(self) -> bool:
        return is_finite(self.low) and is_finite(self.high)


@dataclass
class ArmFigures:
    """One arm's test figures over the retraining seeds."""

    test_accuracy: Estimate
    object_accuracy: Estimate | None = None
    per_order: dict[str, Estimate] = field(default_factory=dict)


@dataclass
class ArmSearch:
    """One arm's search: its folder, best trial and every trial."""

    run_dir: str | None = None
    best: BestModel | None = None
    trials: list[TrialRecord] = field(default_factory=list)
    max_trials: int | None = None
    epochs: int | None = None


@dataclass
class Retrain:
    """One retraining of an arm's best configuration with one seed: how its training went."""

    best_val_accuracy: float | None = None
    best_epoch: int | None = None  # 1-based
    epochs: int | None = None
    converged: bool | None = None
    collapsed: bool = False


@dataclass
class BenchmarkResult:
    """benchmark.json."""

    image_only: ArmFigures
    order_aware: ArmFigures
    gain: Gain
    schema_version: int = SCHEMA_VERSION
    dataset: DatasetSummary | None = None
    command: str | None = None
    seeds: list[int] = field(default_factory=list)
    searches: dict[str, ArmSearch] = field(default_factory=dict)
    object_gain: Estimate | None = None
    controls: dict[str, Control] = field(default_factory=dict)
    per_order: dict[str, dict[str, Estimate]] = field(default_factory=dict)
    versions: dict[str, str | None] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)
    date: str | None = None
    seconds: float | None = None
    retrains: dict[str, dict[str, Retrain]] = field(default_factory=dict)  # arm -> seed -> how it trained
    collapse_below: float | None = None  # a retrain at or below this val accuracy collapsed
    warnings: list[str] = field(default_factory=list)

    def arm(self, name: str) -> ArmFigures:
        return self.image_only if name == "image_only" else self.order_aware

    def seed_names(self) -> list[str]:
        """The seeds as the per_seed keys name them."""
        if self.seeds:
            return [str(s) for s in self.seeds]
        return list(self.gain.per_seed)

    def to_json(self) -> dict:
        return dump(self)

    @classmethod
    def from_json(cls, data: Any, path: str | Path | None = None) -> "BenchmarkResult":
        source = Source("benchmark file", path)
        check_version(data, SCHEMA_VERSION, source)
        result = load(cls, data, source)
        if not is_finite(result.gain.mean):
            raise SchemaError(
                f"{source.name()} is not valid: key 'gain.mean' must be a number. Got {result.gain.mean!r} instead. "
                "Rerun `autoorder benchmark` to write it again."
            )
        return result


def write_benchmark(folder: str | Path, result: BenchmarkResult) -> None:
    write_json(Path(folder) / BENCHMARK_JSON, result.to_json())


def read_benchmark(folder: str | Path) -> BenchmarkResult:
    """FOLDER/benchmark.json, checked.

    Raises:
        RunError: the folder or the file is missing, corrupt, or not an autoorder benchmark.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise RunError(f"Benchmark folder {str(folder)!r} does not exist. Expected the --out folder of `autoorder benchmark`.")
    path = folder / BENCHMARK_JSON
    return BenchmarkResult.from_json(read_json(path, "benchmark file"), path)
