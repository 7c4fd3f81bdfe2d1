"""Intervals for accuracies and paired gains. Plain numpy and scipy-free, no TensorFlow."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

# Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom.
_T975 = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
]


def t_quantile_975(df: int) -> float:
    if df < 1:
        return math.nan
    return _T975[df - 1] if df <= len(_T975) else 1.96


def mean_ci(values: Sequence[float]) -> dict:
    """Mean and 95% Student-t interval over independent runs (seeds); null interval for n < 2."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    mean = float(x.mean()) if n else math.nan
    if n < 2:
        return {"mean": mean, "low": None, "high": None, "n": n, "interval": "95% Student-t over seeds (needs >= 2 seeds)"}
    half = t_quantile_975(n - 1) * float(x.std(ddof=1)) / math.sqrt(n)
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": n, "interval": "95% Student-t over seeds"}


def paired_bootstrap(
    correct_a: np.ndarray, correct_b: np.ndarray, groups: np.ndarray, reps: int = 2000, seed: int = 0
) -> dict:
    """95% percentile interval of mean(b) - mean(a), resampling test objects (clusters) with replacement.

    `correct_*` are (seeds, images) 0/1 arrays on the same test images; the seed axis is averaged.
    Resampling whole objects keeps the views of one object together, as they are not independent.
    """
    a = np.asarray(correct_a, dtype=float).mean(axis=0)
    b = np.asarray(correct_b, dtype=float).mean(axis=0)
    uniq, inv = np.unique(groups, return_inverse=True)
    k = len(uniq)
    sum_a = np.bincount(inv, weights=a, minlength=k)
    sum_b = np.bincount(inv, weights=b, minlength=k)
    count = np.bincount(inv, minlength=k).astype(float)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, k, size=(reps, k))
    w = np.apply_along_axis(lambda r: np.bincount(r, minlength=k), 1, draws).astype(float)
    n = w @ count
    diffs = (w @ sum_b - w @ sum_a) / n
    point = float(b.mean() - a.mean())
    return {
        "mean": point,
        "low": float(np.percentile(diffs, 2.5)),
        "high": float(np.percentile(diffs, 97.5)),
        "reps": reps,
        "interval": "95% paired bootstrap over test objects",
    }


COLLAPSE_MIN_MARGIN = 0.02  # accuracy points a model must clear the majority class by, at least


def collapse_threshold(majority_accuracy: float, n: int) -> float:
    """The accuracy a model must exceed to count as having learned anything on `n` images.

    Always answering the most frequent class scores `majority_accuracy`; a model within two
    standard errors of that proportion (and within COLLAPSE_MIN_MARGIN) is indistinguishable
    from it on these images: a collapsed training.
    """
    p = float(majority_accuracy)
    se = math.sqrt(max(p * (1 - p), 0.0) / max(n, 1))
    return p + max(COLLAPSE_MIN_MARGIN, 2 * se)


def converged(history: Sequence[float], max_epochs: int, tolerance: float = 0.01) -> bool | None:
    """Whether a training had stopped improving: it stopped before `max_epochs` (early stopping),
    or its last fifth of epochs (at least 2) raised the best score by at most `tolerance`.

    None when the history is too short to tell."""
    h = [float(v) for v in history if v == v]
    n = len(h)
    if n == 0:
        return None
    if n < max_epochs:
        return True
    window = max(2, math.ceil(0.2 * n))
    if n <= window:
        return None
    return max(h) - max(h[:-window]) <= tolerance


def excludes_zero(ci: dict) -> bool | None:
    if ci.get("low") is None or ci.get("high") is None:
        return None
    return ci["low"] > 0 or ci["high"] < 0


def combine_views(probs: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An object's views combined by summing their log-probabilities (independent views).

    Returns (object ids, index of each row's object, per-object class probabilities: the
    normalised product of its views' probabilities)."""
    uniq, inv = np.unique(np.asarray(groups), return_inverse=True)
    logp = np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0))
    summed = np.zeros((len(uniq), logp.shape[1]))
    np.add.at(summed, inv.reshape(-1), logp)
    summed -= summed.max(axis=1, keepdims=True)
    combined = np.exp(summed)
    return uniq, inv.reshape(-1), combined / combined.sum(axis=1, keepdims=True)
