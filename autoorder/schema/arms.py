"""What both versions of benchmark.json share: one arm's search, and one retraining of its best configuration."""

from __future__ import annotations

from dataclasses import dataclass, field

from autoorder.schema.results import BestModel, TrialRecord

ARMS = ("image_only", "order_aware")


@dataclass
class ArmSearch:
    """One arm's search: its folder (relative to the benchmark folder), best trial and every trial."""

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
