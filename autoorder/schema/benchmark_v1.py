"""benchmark.json version 1, read only: the old protocol (one split, one search per arm, Student-t over seeds).

Files of this version (the committed benchmarks before protocol 2, and files without a
`schema_version` key) are loaded with these records, so a damaged file is named with its own
keys, then converted to version 2 by `autoorder.schema.benchmark`. Nothing writes them any more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from autoorder.schema.arms import ArmSearch, Retrain
from autoorder.schema.records import SchemaError, Source, load
from autoorder.schema.results import DatasetSummary, is_finite


@dataclass
class Estimate:
    """A mean over seeds with its 95% Student-t interval (`low`/`high` null with fewer than 2 seeds)."""

    mean: float | None = None
    low: float | None = None
    high: float | None = None
    n: int | None = None
    interval: str | None = None
    per_seed: dict[str, float | None] = field(default_factory=dict)
    objects: int | None = None
    images: int | None = None


@dataclass
class Bootstrap:
    """95% paired bootstrap over test objects."""

    mean: float | None = None
    low: float | None = None
    high: float | None = None
    reps: int | None = None
    interval: str | None = None


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


@dataclass
class ArmFigures:
    test_accuracy: Estimate
    object_accuracy: Estimate | None = None
    per_order: dict[str, Estimate] = field(default_factory=dict)


@dataclass
class BenchmarkV1:
    """benchmark.json, version 1."""

    image_only: ArmFigures
    order_aware: ArmFigures
    gain: Gain
    schema_version: int = 1
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
    retrains: dict[str, dict[str, Retrain]] = field(default_factory=dict)
    collapse_below: float | None = None
    warnings: list[str] = field(default_factory=list)

    def seed_names(self) -> list[str]:
        return [str(s) for s in self.seeds] if self.seeds else list(self.gain.per_seed)


def load_v1(data: Any, source: Source) -> BenchmarkV1:
    """A version-1 benchmark.json, every key checked."""
    result = load(BenchmarkV1, data, source)
    check_gain(result.gain.mean, source)
    return result


def check_gain(mean: Any, source: Source) -> None:
    """The headline must be a number, in every version of benchmark.json."""
    if not is_finite(mean):
        raise SchemaError(
            f"{source.name()} is not valid: key 'gain.mean' must be a number. Got {mean!r} instead. "
            "Rerun `autoorder benchmark` to write it again."
        )
