"""The hierarchical bootstrap: its figures, its resamples, its intervals and p-values, and its calibration.

The calibration tests simulate many benchmarks whose true gain is known (zero, or positive) and
count how often the 95% interval covers it. They are small (tens of objects, 600-800 resamples)
so that they run in seconds; the figures they pin are those the module docstring states.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from autoorder.core import bootstrap as B


def _figure(num_per_repeat, den_per_repeat, groups=None):
    return B.Figure([np.asarray(n, float) for n in num_per_repeat], [np.asarray(d, float) for d in den_per_repeat],
                    [np.asarray(g) for g in groups] if groups is not None else None)


def test_point_is_the_mean_over_repeats_of_the_mean_over_seeds():
    # repeat 0: 2 seeds over objects with 3 and 1 photos; repeat 1: one seed-free row
    fig = _figure([[[3, 0], [2, 1]], [[1, 1]]], [[3, 1], [2, 2]])
    assert B.seed_values(fig, 0) == [0.75, 0.75]
    assert B.repeat_values(fig) == [0.75, 0.5]
    assert B.point(fig) == pytest.approx(0.625)


def test_balanced_figure_is_the_mean_of_group_ratios():
    # class 0: 3 of 4 photos right; class 1: 1 of 2 -> balanced 0.625 (plain accuracy would be 4/6)
    fig = _figure([[[2, 1, 1]]], [[2, 2, 2]], groups=[[0, 0, 1]])
    assert B.point(fig) == pytest.approx((3 / 4 + 1 / 2) / 2)


def test_replicates_are_reproducible_and_resample_whole_objects():
    rng = np.random.default_rng(0)
    figs = {"a": _figure([rng.integers(0, 4, (3, 20)) for _ in range(4)], [np.full(20, 3)] * 4)}
    one = B.replicates(figs, [3] * 4, [20] * 4, reps=300, seed=7)["a"]
    two = B.replicates(figs, [3] * 4, [20] * 4, reps=300, seed=7)["a"]
    assert np.array_equal(one, two) and not np.array_equal(one, B.replicates(figs, [3] * 4, [20] * 4, reps=300, seed=8)["a"])
    # Objects whose photos are all right or all wrong: every replicate is a share of whole objects,
    # so it is a multiple of 1/n (photos of one object are never split).
    whole = {"w": _figure([[[3] * 5 + [0] * 5]], [[3] * 10])}
    vals = B.replicates(whole, [1], [10], reps=200, seed=0)["w"]
    assert np.allclose(vals * 10, np.round(vals * 10))


def test_figures_share_the_same_resamples_so_differences_stay_paired():
    rng = np.random.default_rng(1)
    a = [rng.integers(0, 4, (2, 15)).astype(float) for _ in range(3)]
    b = [x + (rng.random(x.shape) < 0.3) for x in a]
    den = [np.full(15, 4.0)] * 3
    draws = B.replicates({"a": _figure(a, den), "b": _figure(b, den), "b-a": _figure([y - x for x, y in zip(a, b)], den)},
                         [2] * 3, [15] * 3, reps=200, seed=3)
    assert np.allclose(draws["b"] - draws["a"], draws["b-a"])


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="one array per repeat"):
        B.replicates({"x": _figure([[[1, 1]]], [[1, 1]])}, [1, 1], [2, 2], reps=10)
    with pytest.raises(ValueError, match="repeat 0: num must be"):
        B.replicates({"x": _figure([np.ones((3, 3))], [[1, 1, 1]])}, [2], [3], reps=10)


def test_percentile_levels_widen_for_few_repeats_only():
    assert B.percentile_levels(1) == pytest.approx((0.025, 0.975))
    lo5, hi5 = B.percentile_levels(5)
    assert lo5 == pytest.approx(0.000955, rel=0.02) and hi5 == pytest.approx(1 - lo5)  # Phi(sqrt(5/4) t_4(0.025))
    assert B.percentile_levels(2)[0] < lo5 < B.percentile_levels(10)[0] < B.percentile_levels(1000)[0] < 0.025
    assert B.percentile_levels(1000)[0] == pytest.approx(0.025, abs=0.001)


def test_accuracy_intervals_lie_in_0_1_by_construction():
    # A model right on nearly every photo: a symmetric interval would pass 100%, percentiles cannot.
    rng = np.random.default_rng(2)
    num = [np.stack([np.minimum(3, rng.binomial(3, 0.995, 12)) for _ in range(2)]).astype(float) for _ in range(3)]
    fig = _figure(num, [np.full(12, 3.0)] * 3)
    low, high = B.interval(B.replicates({"a": fig}, [2] * 3, [12] * 3, reps=500)["a"], 3)
    assert 0.0 <= low <= B.point(fig) <= high <= 1.0


def test_p_value_agrees_with_the_interval():
    rng = np.random.default_rng(4)
    for K in (1, 3, 5):
        for shift in (-0.05, 0.0, 0.02, 0.05, 0.15):
            v = rng.normal(shift, 0.04, size=4000)
            low, _ = B.interval(v, K)
            p = B.p_value(v, K)
            assert 0 < p <= 1 and B.p_positive(v) == pytest.approx((v > 0).mean())
            if abs(low) > 0.01:  # away from the boundary, where resampling noise decides
                assert (p < 0.025) == (low > 0), (K, shift, p, low)


def test_holm_adjusts_step_down_and_keeps_the_order():
    assert B.holm([0.01, 0.04, 0.03, None]) == pytest.approx([0.03, 0.06, 0.06, None])
    assert B.holm([0.2, 0.9]) == pytest.approx([0.4, 0.9]) and B.holm([0.5, 0.9]) == [1.0, 1.0] and B.holm([]) == []


# ----- calibration: simulated benchmarks with a known true gain -----------------------------------
def _simulate(rng, K, S, n, gain, tau, sigma):
    """A benchmark's per-object gain counts: each repeat's true gain = gain + N(0, tau) (search and split),
    each seed adds N(0, sigma) to each arm, each object has its own difficulty and 3 photos."""
    nums = []
    for _ in range(K):
        g = gain + rng.normal(0.0, tau)
        easy = rng.beta(4.0, 1.5, size=n)
        rows = []
        for _ in range(S):
            p_io = np.clip(easy + rng.normal(0.0, sigma), 0, 1)
            p_oa = np.clip(easy + g + rng.normal(0.0, sigma), 0, 1)
            rows.append(rng.binomial(3, p_oa) - rng.binomial(3, p_io))
        nums.append(np.array(rows, float))
    return _figure(nums, [np.full(n, 3.0)] * K)


def _coverage(K, S, n, tau, sigma, sims, reps, truth=0.0, gain=0.0, plain=False):
    rng = np.random.default_rng(11)
    hits, above = 0, 0
    for i in range(sims):
        fig = _simulate(rng, K, S, n, gain, tau, sigma)
        draws = B.replicates({"g": fig}, [S] * K, [n] * K, reps=reps, seed=i)["g"]
        if plain:
            low, high = np.quantile(draws, [0.025, 0.975])
        else:
            low, high = B.interval(draws, K)
        hits += low <= truth <= high
        above += B.p_value(draws, K) < 0.025
    return hits / sims, above / sims


def test_zero_gain_is_covered_about_95_percent_when_search_and_split_dominate():
    # 5 repeats whose true gains spread (search and split variance) far more than seeds and objects do.
    expanded, false_positive = _coverage(K=5, S=3, n=80, tau=0.08, sigma=0.005, sims=150, reps=800)
    plain, _ = _coverage(K=5, S=3, n=80, tau=0.08, sigma=0.005, sims=150, reps=800, plain=True)
    assert 0.92 <= expanded <= 0.995, expanded
    assert false_positive <= 0.04, false_positive
    assert plain < expanded and plain < 0.93, plain  # why the levels are widened: 5 repeats are few


def test_zero_gain_is_covered_at_least_95_percent_when_seeds_and_objects_dominate():
    # No search variance: the inner levels are counted twice, so the interval is conservative.
    coverage, false_positive = _coverage(K=5, S=3, n=30, tau=0.0, sigma=0.01, sims=120, reps=600)
    assert coverage >= 0.95 and false_positive <= 0.025
    coverage, _ = _coverage(K=1, S=3, n=40, tau=0.0, sigma=0.02, sims=150, reps=600)
    assert coverage >= 0.93


def test_a_real_gain_is_found():
    coverage, detected = _coverage(K=5, S=3, n=60, tau=0.02, sigma=0.005, sims=60, reps=600, truth=0.10, gain=0.10)
    assert coverage >= 0.9 and detected >= 0.9, (coverage, detected)


def test_nan_when_a_figure_has_nothing_to_count():
    fig = _figure([[[0, 1]]], [[0, 1]])  # one object has no photo of this kind
    assert math.isfinite(B.point(fig))
    vals = B.replicates({"x": fig}, [1], [2], reps=200, seed=0)["x"]
    assert np.isnan(vals).any() and np.isfinite(vals).any()  # resamples with only the empty object
    assert B.interval(np.array([np.nan]), 1) == (None, None) and B.p_positive(np.array([np.nan])) is None
