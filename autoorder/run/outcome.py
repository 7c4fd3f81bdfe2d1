"""What a search found, as records: each trial, the results, and warnings a user must see."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoorder.core import config as C
from autoorder.core.environment import machine, versions
from autoorder.core.stats import converged
from autoorder.core.version import __version__
from autoorder.model.callbacks import OBJECTIVE
from autoorder.schema.results import (
    RESOLVED,
    BestModel,
    DatasetSummary,
    MajorityBaseline,
    RunResults,
    TrialRecord,
    is_finite,
    ranked,
)


def trial_record(
    trial: Any,
    seconds: float | None,
    names: list[str] | None = None,
    max_epochs: int | None = None,
    collapse_below: float | None = None,
    history: tuple[list, list] | None = None,
    objective: str = OBJECTIVE,
) -> TrialRecord:
    """A Keras Tuner trial as a record (the reason of a failure: its message's last line).

    `history` ((objective, val_accuracy) per epoch) and `max_epochs` (the trial's budget) say
    whether it converged; `collapse_below` whether it collapsed (a val_accuracy that does not
    clear the majority class by a clear margin)."""
    status = str(getattr(trial.status, "value", trial.status))
    score = trial.score
    reason = ""
    if status != "COMPLETED" and getattr(trial, "message", None):
        lines = [ln for ln in str(trial.message).strip().splitlines() if ln.strip()]
        reason = lines[-1] if lines else ""
    elif status == "COMPLETED" and not is_finite(score):
        reason = "no finite score"
    scores, accuracy = history or ([], [])
    budget = trial.hyperparameters.values.get("tuner/epochs") or max_epochs
    finite = is_finite(score)
    val_accuracy = _at_best(scores, accuracy) if finite else None
    if val_accuracy is None and finite and objective == OBJECTIVE:
        val_accuracy = float(score)
    return TrialRecord(
        id=trial.trial_id,
        status=status,
        hyperparameters=_in_order(trial.hyperparameters.values, names),
        val_accuracy=val_accuracy,
        best_epoch=trial.best_step,
        seconds=round(seconds, 3) if seconds is not None else None,
        reason=reason,
        epochs=len(scores) or None,
        converged=converged([v for v in scores if v is not None], budget) if budget and scores else None,
        collapsed=bool(val_accuracy is not None and collapse_below is not None and val_accuracy <= collapse_below),
        score=float(score) if finite else None,
    )


def _at_best(scores: list, accuracy: list) -> float | None:
    """val_accuracy at the epoch with the best objective (the epoch whose weights are kept)."""
    ranked = [(s, i) for i, s in enumerate(scores) if s is not None]
    if not ranked or len(accuracy) != len(scores):
        return None
    best = max(ranked, key=lambda x: (x[0], -x[1]))[1]
    return accuracy[best]


def _in_order(values: dict, names: list[str] | None) -> dict:
    """Values in the order the search space declares them (gRPC hands them back regrouped by type)."""
    if not names:
        return dict(values)
    return {**{k: values[k] for k in names if k in values}, **{k: v for k, v in values.items() if k not in names}}


def new_results(
    out: Path, dataset: DatasetSummary, trials: list[TrialRecord], stopped: str | None, objective: str = OBJECTIVE
) -> RunResults:
    """results.json before the best model is exported (what is known once the trials are done)."""
    trials = sorted(trials, key=lambda t: t.id)
    return RunResults(
        trials=trials,
        autoorder_version=__version__,
        run_dir=str(out.resolve()),
        config=str(out / RESOLVED),
        dataset=dataset,
        ranking=[t.id for t in ranked(trials)],
        versions=versions(),
        seconds=round(sum(t.seconds or 0 for t in trials), 3),
        stopped=stopped or "max_trials",
        machine=machine(),
        objective=objective,
    )


def search_warnings(
    cfg: C.Config, best: BestModel, baseline: MajorityBaseline, trials: list[TrialRecord] | None = None
) -> list[str]:
    """What a user should know before trusting the best model."""
    found = []
    collapsed = [t for t in trials or [] if t.collapsed]
    if collapsed:
        ids = ", ".join(t.id for t in collapsed[:10]) + (" ..." if len(collapsed) > 10 else "")
        found.append(
            f"{len(collapsed)} trial(s) collapsed (trial {ids}): their val_accuracy does not clear always answering "
            f"{baseline.label!r} ({baseline.val_accuracy:.4f}) by a clear margin; they are ranked after every other "
            "trial. A learning rate too high for the backbone is the usual cause."
        )
    unconverged = [t for t in trials or [] if t.converged is False and not t.collapsed]
    if unconverged and len(unconverged) == len([t for t in trials or [] if t.scored and not t.collapsed]):
        found.append(
            f"no trial had stopped improving when its epochs ran out (tuner.epochs {cfg.tuner.epochs}): the scores "
            "compare unfinished trainings. Raise tuner.epochs."
        )
    if baseline.val_accuracy is not None and best.val_accuracy is not None and best.val_accuracy <= baseline.val_accuracy + 1e-9:
        hint = "Check that labels and images belong together."
        if cfg.space.weights is None and C.FREEZE_ALL in cfg.space.freeze:
            hint += (
                " space.weights is null, so every backbone starts from random weights and a frozen one (freeze: all)"
                " gives features that carry little about the image: give weights (a file, or imagenet), or let trials"
                " train the backbone (freeze: none or a freeze point)."
            )
        found.append(
            f"the best model (val_accuracy {best.val_accuracy:.4f}) does not beat always answering the most "
            f"frequent training class {baseline.label!r} ({baseline.val_accuracy:.4f} on validation). {hint}"
        )
    elif (baseline.test_accuracy is not None and best.test_accuracy is not None
          and best.test_accuracy <= baseline.test_accuracy + 1e-9):
        n = f" on {best.test_images} test images" if best.test_images else ""
        found.append(
            f"on the held-out test split the best model ({best.test_accuracy:.4f}{n}) does not beat always answering "
            f"{baseline.label!r} ({baseline.test_accuracy:.4f}): its validation score did not carry over. Small "
            "validation and test splits make this likely; use more objects (or a larger data.split.val) before "
            "trusting this model."
        )
    return found
