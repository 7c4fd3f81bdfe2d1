"""Small statistics of trainings and views: collapse, convergence, views combined per object. Plain numpy.

Intervals and p-values of a benchmark live in `autoorder.core.bootstrap`.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

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
