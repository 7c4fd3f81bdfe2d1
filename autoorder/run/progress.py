"""One line per finished trial, and trial_seconds.json (read again on resume)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from autoorder.core import config as C
from autoorder.core.fileio import write_json
from autoorder.run.runfiles import read_trial_seconds
from autoorder.schema.results import is_finite

Log = Callable[[str], None]


def freeze_of(hp: dict) -> Any:
    """The freeze point of a trial: the hyperparameter `<backbone>/freeze`."""
    return hp.get(f"{hp.get(C.HP_BACKBONE)}/{C.HP_FREEZE}")


def fmt_elapsed(s: float) -> str:
    m, sec = divmod(int(s), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m{sec:02d}s" if h else f"{m}m{sec:02d}s"


class Progress:
    """Records each finished trial's time and score; logs one line per trial."""

    def __init__(self, path: Path, total: int, log: Log, objective: str = "val_accuracy"):
        self.path = path
        self.times: dict = read_trial_seconds(self.path)
        self.total = total
        self.log = log
        self.objective = objective
        self.t0 = time.monotonic()
        self.done_here = 0  # trials finished in this session (the ETA's rate)
        scores = [v.get("score") for v in self.times.values() if is_finite(v.get("score"))]
        self.best = max(scores) if scores else None

    def deadline(self, budget: float | None) -> float | None:
        """time.monotonic() when a time budget runs out, counting earlier sessions of this run."""
        if not budget:
            return None
        spent = sum(v.get("seconds") or 0.0 for v in self.times.values())
        return time.monotonic() + max(budget - spent, 0.0)

    def seconds(self, trial_id: str) -> float | None:
        return self.times.get(trial_id, {}).get("seconds")

    def __call__(self, trial: Any, seconds: float) -> None:
        score = trial.score if is_finite(trial.score) else None
        self.times[trial.trial_id] = {"seconds": round(seconds, 3), "score": score}
        self.done_here += 1
        write_json(self.path, self.times)
        if score is not None and (self.best is None or score > self.best):
            self.best = score
        hp = trial.hyperparameters.values
        what = f"{hp.get(C.HP_BACKBONE)}, freeze={freeze_of(hp)}, order={hp.get(C.HP_ENCODING)}"
        status = str(getattr(trial.status, "value", trial.status))
        score_txt = f"{self.objective} {score:.4f}" if score is not None else f"{status.lower()}"
        best_txt = f"{self.best:.4f}" if self.best is not None else "-"
        elapsed = time.monotonic() - self.t0
        left = max(self.total - len(self.times), 0)
        # From the rate of this session's trials: parallel workers and cached features included.
        eta = f"  about {fmt_elapsed(elapsed / self.done_here * left)} left" if left else ""
        self.log(
            f"trial {len(self.times)}/{self.total} [id {trial.trial_id}]  {score_txt}  best {best_txt}  ({what})  "
            f"{seconds:.1f}s  elapsed {fmt_elapsed(elapsed)}{eta}"
        )
