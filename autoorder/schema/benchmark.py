"""benchmark.json of a benchmark folder: every repeat, both arms, the gain, the controls.

Version history:
- 1: one split and one search per arm, retrained over seeds; Student-t intervals over seeds and a
  paired bootstrap over test objects (no `schema_version` key in files written before it was
  recorded). Still read: converted on load (`protocol` 1), see `autoorder.schema.benchmark_v1`.
- 2: protocol 2. K outer repeats (each its own split and search seed), S retraining seeds per
  repeat disjoint from the search seed; every figure with a 95% hierarchical bootstrap interval
  over repeats, seeds and test objects; `p_positive`; controls `architecture_only` and
  `noncompliance`; `per_class` and balanced accuracy; the view classifier; the test predictions
  of every retraining in `predictions.csv.gz`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoorder.core.errors import RunError
from autoorder.core.fileio import read_json, write_json
from autoorder.schema import benchmark_v1 as v1
from autoorder.schema.arms import ARMS, ArmSearch, Retrain
from autoorder.schema.records import Source, check_version, dump, load
from autoorder.schema.results import DatasetSummary, is_finite

SCHEMA_VERSION = 2
PROTOCOL = 2
BENCHMARK_JSON = "benchmark.json"

__all__ = [
    "ARMS", "ArmFigures", "ArmSearch", "BENCHMARK_JSON", "BenchmarkResult", "Control", "Gain", "Interval",
    "Repeat", "Retrain", "SCHEMA_VERSION", "Statistics", "ViewClassifier", "read_benchmark", "write_benchmark",
]


@dataclass
class Interval:
    """A figure (a fraction: an accuracy, or a difference of accuracies) and its 95% interval.

    `mean` is the figure on the data itself: the mean over repeats of each repeat's mean over its
    seeds. `low`/`high` bound it (see the benchmark's `statistics`); null when there is none."""

    mean: float | None = None
    low: float | None = None
    high: float | None = None
    interval: str | None = None  # how low and high were made
    per_repeat: list[float | None] = field(default_factory=list)  # each repeat's figure (mean over its seeds)
    images: int | None = None  # test photos it counts, summed over repeats
    objects: int | None = None  # test objects it counts, summed over repeats

    @property
    def has_interval(self) -> bool:
        return is_finite(self.low) and is_finite(self.high)

    @property
    def excludes_zero(self) -> bool | None:
        if not self.has_interval:
            return None
        return self.low > 0 or self.high < 0


@dataclass
class Gain(Interval):
    """Order-aware minus image-only, paired (same repeat, same seed, same test photos)."""

    p_positive: float | None = None  # P(gain > 0) under the bootstrap: the share of replicates above zero
    p_value: float | None = None  # one-sided p of "gain > 0", consistent with the interval (statistics.p_value)
    bootstrap: v1.Bootstrap | None = None  # version-1 files only: the paired bootstrap over test objects


@dataclass
class Control(Interval):
    """A control: an accuracy with its interval, and for `noncompliance` one figure per level."""

    what: str = ""
    levels: dict[str, Interval] = field(default_factory=dict)

    @property
    def value(self) -> float | None:
        return self.mean


@dataclass
class ArmFigures:
    """One arm's test figures over repeats and seeds."""

    test_accuracy: Interval
    object_accuracy: Interval | None = None
    balanced_accuracy: Interval | None = None


@dataclass
class Repeat:
    """One outer repeat: its split and search seeds, both searches, and every retraining's figures."""

    repeat: int
    split_seed: int | None = None
    search_seed: int | None = None
    seeds: list[int] = field(default_factory=list)  # retraining seeds, disjoint from the search seed
    searches: dict[str, ArmSearch] = field(default_factory=dict)
    test_images: int | None = None
    test_objects: int | None = None
    accuracy: dict[str, dict[str, float | None]] = field(default_factory=dict)  # arm or control -> seed -> test accuracy
    object_accuracy: dict[str, dict[str, float | None]] = field(default_factory=dict)  # arm -> seed -> per-object accuracy
    gain: dict[str, float | None] = field(default_factory=dict)  # seed -> order-aware minus image-only
    retrains: dict[str, dict[str, Retrain]] = field(default_factory=dict)  # arm -> seed -> how it trained
    collapse_below: float | None = None  # on this repeat's validation split, a retraining at or below it collapsed
    view_classifier: float | None = None  # the view classifier's test accuracy on this repeat's split
    view_chance: float | None = None  # always the most frequent train order value, on the same photos


@dataclass
class Statistics:
    """How the intervals and p-values were made."""

    method: str = ""
    reps: int | None = None
    seed: int | None = None
    level: float = 0.95
    percentiles: list[float] = field(default_factory=list)  # the percentile levels of low and high
    p_value: str = ""


@dataclass
class ViewClassifier:
    """How well a simple classifier tells the view (the order value) from one photo."""

    what: str = ""
    accuracy: float | None = None  # mean over repeats
    per_repeat: list[float | None] = field(default_factory=list)
    chance: float | None = None  # always answering the most frequent order value of train


@dataclass
class BenchmarkResult:
    """benchmark.json."""

    image_only: ArmFigures
    order_aware: ArmFigures
    gain: Gain
    schema_version: int = SCHEMA_VERSION
    protocol: int = PROTOCOL  # 1: a version-1 file, converted on reading (one split, one search)
    dataset: DatasetSummary | None = None
    command: str | None = None
    repeats: list[Repeat] = field(default_factory=list)
    statistics: Statistics | None = None
    object_gain: Gain | None = None
    balanced_gain: Gain | None = None
    controls: dict[str, Control] = field(default_factory=dict)
    per_order: dict[str, dict[str, Interval]] = field(default_factory=dict)  # arm -> order value -> accuracy
    per_class: dict[str, dict[str, Interval]] = field(default_factory=dict)  # arm -> class -> accuracy (recall)
    view_classifier: ViewClassifier | None = None
    predictions: str | None = None  # the test predictions file, relative to the benchmark folder
    versions: dict[str, str | None] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)
    date: str | None = None
    seconds: float | None = None
    collapse_below: float | None = None  # version 1 only (version 2: per repeat)
    warnings: list[str] = field(default_factory=list)

    def arm(self, name: str) -> ArmFigures:
        return self.image_only if name == "image_only" else self.order_aware

    @property
    def n_repeats(self) -> int:
        return len(self.repeats)

    def seeds_per_repeat(self) -> list[int]:
        return [len(r.seeds) for r in self.repeats]

    def to_json(self) -> dict:
        return dump(self)

    @classmethod
    def from_json(cls, data: Any, path: str | Path | None = None) -> "BenchmarkResult":
        source = Source("benchmark file", path)
        if check_version(data, SCHEMA_VERSION, source) == 1:
            return from_v1(v1.load_v1(data, source))
        result = load(cls, data, source)
        v1.check_gain(result.gain.mean, source)
        return result


# ----- version 1 -> 2 ---------------------------------------------------------------------------
def _v1_label(e: v1.Estimate | v1.Control) -> str:
    return f"{e.interval or '95% Student-t over seeds'} (version 1)"


def _interval(e: v1.Estimate | None) -> Interval | None:
    if e is None:
        return None
    return Interval(mean=e.mean, low=e.low, high=e.high, interval=_v1_label(e), per_repeat=[e.mean],
                    images=e.images, objects=e.objects)


def _gain(e: v1.Gain | v1.Estimate | None) -> Gain | None:
    if e is None:
        return None
    return Gain(mean=e.mean, low=e.low, high=e.high, interval=_v1_label(e), per_repeat=[e.mean],
                bootstrap=getattr(e, "bootstrap", None))


def _control(c: v1.Control) -> Control:
    mean = c.mean if c.mean is not None else c.accuracy
    has = c.low is not None or c.high is not None
    return Control(mean=mean, low=c.low, high=c.high, interval=_v1_label(c) if has else None, per_repeat=[mean], what=c.what)


def from_v1(old: v1.BenchmarkV1) -> BenchmarkResult:
    """A version-1 benchmark as a version-2 record: one repeat, its seeds, Student-t intervals as they were."""
    seeds = old.seed_names()
    arms = {arm: old.image_only if arm == "image_only" else old.order_aware for arm in ARMS}
    accuracy = {arm: {s: arms[arm].test_accuracy.per_seed.get(s) for s in seeds} for arm in ARMS}
    if "shuffled_order" in old.controls:
        accuracy["shuffled_order"] = {s: old.controls["shuffled_order"].per_seed.get(s) for s in seeds}
    objects = {arm: {s: arms[arm].object_accuracy.per_seed.get(s) for s in seeds}
               for arm in ARMS if arms[arm].object_accuracy is not None}
    n_obj = next((a.object_accuracy.objects for a in arms.values() if a.object_accuracy is not None), None)
    n_img = old.dataset.images_per_split.get("test") if old.dataset is not None else None
    repeat = Repeat(
        repeat=0, seeds=[int(s) for s in seeds if s.lstrip("-").isdigit()], searches=old.searches,
        test_images=n_img, test_objects=n_obj, accuracy=accuracy, object_accuracy=objects,
        gain={s: old.gain.per_seed.get(s) for s in seeds}, retrains=old.retrains, collapse_below=old.collapse_below,
    )
    per_order = {arm: {k: _interval(e) for k, e in (old.per_order.get(arm) or arms[arm].per_order).items()} for arm in ARMS}
    return BenchmarkResult(
        image_only=ArmFigures(_interval(old.image_only.test_accuracy), _interval(old.image_only.object_accuracy)),
        order_aware=ArmFigures(_interval(old.order_aware.test_accuracy), _interval(old.order_aware.object_accuracy)),
        gain=_gain(old.gain),
        protocol=1,
        dataset=old.dataset,
        command=old.command,
        repeats=[repeat],
        statistics=Statistics(
            method="version 1: 95% Student-t interval over the retraining seeds of one split after one search per arm; "
                   "beside it a 95% paired bootstrap over test objects",
            level=0.95,
        ),
        object_gain=_gain(old.object_gain),
        controls={k: _control(c) for k, c in old.controls.items()},
        per_order=per_order,
        versions=old.versions,
        machine=old.machine,
        date=old.date,
        seconds=old.seconds,
        collapse_below=old.collapse_below,
        warnings=old.warnings,
    )


def write_benchmark(folder: str | Path, result: BenchmarkResult) -> None:
    write_json(Path(folder) / BENCHMARK_JSON, result.to_json())


def read_benchmark(folder: str | Path) -> BenchmarkResult:
    """FOLDER/benchmark.json, checked (a version-1 file is converted).

    Raises:
        RunError: the folder or the file is missing, corrupt, or not an autoorder benchmark.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise RunError(f"Benchmark folder {str(folder)!r} does not exist. Expected the --out folder of `autoorder benchmark`.")
    path = folder / BENCHMARK_JSON
    return BenchmarkResult.from_json(read_json(path, "benchmark file"), path)
