"""A hierarchical bootstrap over repeats, seeds and test objects. Plain numpy and scipy, no TensorFlow.

A benchmark has K outer repeats (each its own split and searches), S retraining seeds inside
each repeat, and the test objects of that repeat's split. Every figure it publishes (an
accuracy, a gain, a per-class or per-order accuracy) is a ratio per repeat,

    figure_r = mean over seeds s of  sum_j num[s, j] / sum_j den[j]     (j: test objects)

averaged over repeats with equal weight. One bootstrap replicate draws K repeats with
replacement, then, for each drawn repeat independently, S of its seeds with replacement and
n of its n test objects with replacement (whole objects: the photos of one object are not
independent), and recomputes the figure with those multiplicities. Every figure of a benchmark
is computed on the same replicates, so gains and controls stay paired.

Intervals are percentiles of the replicates, so an accuracy interval lies in [0, 1] by
construction. The top level has only K units: a plain percentile interval from K values is too
narrow (normal instead of t quantiles, variance divided by K instead of K - 1; about 87%
coverage at K = 5 when the repeats dominate the variance). The percentile levels are therefore
widened as in Hesterberg's expanded percentile interval (Hesterberg 2015, "What teachers should
know about the bootstrap", section 5): level alpha/2 becomes Phi(sqrt(K / (K - 1)) * t_{K-1}(alpha/2)).
Resampling the inner levels as well counts their variance a second time (it is already in the
spread of the repeats), so the interval is conservative where seeds and objects dominate; the
calibration is measured in tests/core/test_bootstrap.py (simulated benchmarks with a known gain:
about 96-98% coverage of a zero gain where search and split dominate, more where they do not).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from scipy import stats as sps

DEFAULT_REPS = 10_000
DEFAULT_SEED = 0
LEVEL = 0.95
CHUNK = 1_000  # replicates drawn at once: memory stays (CHUNK x objects), whatever the reps


@dataclass(frozen=True)
class Figure:
    """One figure's data, per repeat.

    Attributes:
        num: per repeat, (seeds, objects) or (1, objects) when the figure does not depend on
            the seed (an order-only model): what each test object counts for the numerator
            (correct photos; for a gain, correct photos of one arm minus the other's).
        den: per repeat, (objects,): what each object counts for the denominator (photos).
        groups: per repeat, (objects,) ints, or None. With groups the figure is the mean over
            groups of each group's ratio (balanced accuracy: groups are classes).
    """

    num: Sequence[np.ndarray]
    den: Sequence[np.ndarray]
    groups: Sequence[np.ndarray] | None = None


def _ratio(num: np.ndarray, den: np.ndarray, groups: np.ndarray | None, n_groups: int) -> np.ndarray:
    """Rows of object-weighted numerators and denominators (rows, objects) -> (rows,) figures."""
    if groups is None:
        n, d = num.sum(axis=1), den.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(d > 0, n / np.where(d > 0, d, 1.0), np.nan)
    onehot = np.zeros((len(groups), n_groups))
    onehot[np.arange(len(groups)), groups] = 1.0
    n, d = num @ onehot, den @ onehot
    with np.errstate(invalid="ignore", divide="ignore"):
        per = np.where(d > 0, n / np.where(d > 0, d, 1.0), np.nan)
    present = (d > 0).sum(axis=1)
    total = np.where(d > 0, per, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(present > 0, total / np.where(present > 0, present, 1), np.nan)


def _check(fig: Figure, seeds: Sequence[int], objects: Sequence[int]) -> None:
    if len(fig.num) != len(seeds) or len(fig.den) != len(seeds):
        raise ValueError(f"a figure needs one array per repeat ({len(seeds)}); got {len(fig.num)} and {len(fig.den)}")
    for r, (num, den) in enumerate(zip(fig.num, fig.den)):
        if num.ndim != 2 or num.shape[1] != objects[r] or num.shape[0] not in (1, seeds[r]) or den.shape != (objects[r],):
            raise ValueError(
                f"repeat {r}: num must be (seeds={seeds[r]} or 1, objects={objects[r]}) and den (objects,); "
                f"got {num.shape} and {den.shape}"
            )


def point(fig: Figure) -> float:
    """The figure on the data itself: mean over repeats (that have any denominator) of the mean over seeds."""
    per_repeat = repeat_values(fig)
    finite = [v for v in per_repeat if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def repeat_values(fig: Figure) -> list[float]:
    """Each repeat's figure (mean over its seeds); NaN for a repeat with nothing to count."""
    out = []
    for r, (num, den) in enumerate(zip(fig.num, fig.den)):
        groups = fig.groups[r] if fig.groups is not None else None
        n_groups = int(groups.max()) + 1 if groups is not None and len(groups) else 0
        vals = _ratio(np.asarray(num, float), np.broadcast_to(np.asarray(den, float), num.shape), groups, n_groups)
        out.append(float(np.mean(vals)) if len(vals) else math.nan)
    return out


def seed_values(fig: Figure, r: int) -> list[float]:
    """Repeat r's figure per seed (one value when the figure does not depend on the seed)."""
    num, den = np.asarray(fig.num[r], float), np.asarray(fig.den[r], float)
    groups = fig.groups[r] if fig.groups is not None else None
    n_groups = int(groups.max()) + 1 if groups is not None and len(groups) else 0
    return [float(v) for v in _ratio(num, np.broadcast_to(den, num.shape), groups, n_groups)]


def replicates(
    figures: Mapping[str, Figure],
    seeds: Sequence[int],
    objects: Sequence[int],
    reps: int = DEFAULT_REPS,
    seed: int = DEFAULT_SEED,
) -> dict[str, np.ndarray]:
    """Bootstrap replicates (reps,) of every figure, all from the same resamples.

    Args:
        figures: name -> Figure, each with one array per repeat.
        seeds: per repeat, how many retraining seeds it has.
        objects: per repeat, how many test objects its split has.
        reps, seed: the number of replicates and the seed of their draws (the same arguments
            give the same replicates).

    A replicate in which a figure has nothing to count in any drawn repeat (a rare order
    value whose objects were all left out) is NaN for that figure.
    """
    K = len(seeds)
    if K < 1 or len(objects) != K:
        raise ValueError(f"seeds and objects need one entry per repeat (at least one); got {len(seeds)} and {len(objects)}")
    for f in figures.values():
        _check(f, seeds, objects)
    n_groups = {
        name: [int(g.max()) + 1 if len(g) else 0 for g in f.groups] if f.groups is not None else None
        for name, f in figures.items()
    }
    rng = np.random.default_rng(seed)
    out = {name: np.empty(reps) for name in figures}
    for start in range(0, reps, CHUNK):
        rows = min(CHUNK, reps - start)
        which = rng.integers(0, K, size=(rows, K))  # top level: K repeats with replacement
        sums = {name: np.zeros(rows) for name in figures}
        counts = {name: np.zeros(rows) for name in figures}
        for k in range(K):
            for r in range(K):
                sel = np.flatnonzero(which[:, k] == r)
                if not len(sel):
                    continue
                S, n = seeds[r], objects[r]
                seed_w = rng.multinomial(S, np.full(S, 1.0 / S), size=len(sel)) / S  # seeds within the repeat
                obj_w = rng.multinomial(n, np.full(n, 1.0 / n), size=len(sel)).astype(float)  # whole objects
                for name, f in figures.items():
                    num = np.asarray(f.num[r], float)
                    avg = np.broadcast_to(num[0], (len(sel), n)) if num.shape[0] == 1 else seed_w @ num
                    groups = f.groups[r] if f.groups is not None else None
                    ng = n_groups[name][r] if n_groups[name] is not None else 0
                    vals = _ratio(avg * obj_w, obj_w * np.asarray(f.den[r], float), groups, ng)
                    ok = np.isfinite(vals)
                    sums[name][sel[ok]] += vals[ok]
                    counts[name][sel[ok]] += 1
        for name in figures:
            with np.errstate(invalid="ignore", divide="ignore"):
                out[name][start:start + rows] = np.where(counts[name] > 0, sums[name] / np.where(counts[name] > 0, counts[name], 1), np.nan)
    return out


def percentile_levels(n_repeats: int, level: float = LEVEL) -> tuple[float, float]:
    """The lower and upper percentile levels of a two-sided `level` interval from K repeats.

    K = 1: the plain levels ((1 - level) / 2 and its complement). K >= 2: widened (expanded
    percentile interval) so that the interval has about the width of a Student-t interval with
    K - 1 degrees of freedom over the repeats."""
    alpha = (1.0 - level) / 2.0
    if n_repeats < 2:
        return alpha, 1.0 - alpha
    lo = float(sps.norm.cdf(math.sqrt(n_repeats / (n_repeats - 1)) * sps.t.ppf(alpha, n_repeats - 1)))
    return lo, 1.0 - lo


def interval(values: np.ndarray, n_repeats: int, level: float = LEVEL) -> tuple[float | None, float | None]:
    """(low, high): percentiles of the finite replicates at `percentile_levels`; (None, None) without any."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if not len(v):
        return None, None
    lo, hi = percentile_levels(n_repeats, level)
    low, high = np.quantile(v, [lo, hi])
    return float(low), float(high)


def p_positive(values: np.ndarray) -> float | None:
    """P(figure > 0) under the bootstrap: the share of finite replicates above zero."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    return float((v > 0).mean()) if len(v) else None


def p_value(values: np.ndarray, n_repeats: int, estimate: float | None = None) -> float | None:
    """One-sided p-value of "figure > 0", the test that goes with `interval`.

    K = 1: the percentile bootstrap's own, q = (1 + #replicates <= 0) / (1 + #replicates) (the +1
    keeps it above zero with finitely many replicates): p < 0.025 exactly when the interval lies
    above zero, up to interpolation between replicates.

    K >= 2: p = T_{K-1}(-estimate / (sqrt(K / (K - 1)) * sd)), sd the replicates' standard deviation
    and `estimate` the figure on the data (their mean when not given). This is the test of the
    widened interval when the replicates are about normal; it is used rather than the share of
    replicates below zero because that share cannot resolve p-values below about 0.015 at K = 5
    (a t with 4 degrees of freedom has heavy tails: no number of resamples reaches them), which
    would leave nothing for a multiple-testing correction to work with."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if not len(v):
        return None
    if n_repeats < 2:
        return (1.0 + float((v <= 0).sum())) / (1.0 + len(v))
    est = float(v.mean()) if estimate is None else float(estimate)
    sd = float(v.std(ddof=1)) if len(v) > 1 else 0.0
    if sd == 0.0:
        return 0.0 if est > 0 else 1.0
    return float(sps.t.cdf(-est / (math.sqrt(n_repeats / (n_repeats - 1)) * sd), n_repeats - 1))


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment of a family of p-values (None stays None and is not counted)."""
    idx = [i for i, p in enumerate(p_values) if p is not None and math.isfinite(p)]
    m = len(idx)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda i: p_values[i])):
        running = max(running, min(1.0, (m - rank) * float(p_values[i])))
        adjusted[i] = running
    return adjusted
