"""Intervals for accuracies and paired gains, and views combined per object."""

import numpy as np
import pytest

from autoorder.core.stats import excludes_zero, mean_ci, paired_bootstrap


def test_mean_ci_student_t():
    ci = mean_ci([0.5, 0.6, 0.7])
    assert ci["mean"] == pytest.approx(0.6)
    # t(0.975, 2) = 4.303, sd = 0.1, n = 3
    assert ci["high"] - ci["mean"] == pytest.approx(4.303 * 0.1 / np.sqrt(3), rel=1e-3)
    assert mean_ci([0.5])["low"] is None


def test_paired_bootstrap_sees_a_real_difference_and_not_a_fake_one():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(100), 3)
    a = (rng.random((2, 300)) < 0.5).astype(int)
    b = a.copy()
    assert paired_bootstrap(a, b, groups)["mean"] == 0.0
    assert excludes_zero(paired_bootstrap(a, b, groups)) is False
    better = np.maximum(a, (rng.random((2, 300)) < 0.6).astype(int))
    ci = paired_bootstrap(a, better, groups)
    assert ci["low"] > 0 and excludes_zero(ci)


def test_combine_views_is_the_normalised_product_of_view_probabilities():
    from autoorder.core.stats import combine_views

    probs = np.array([[0.6, 0.4], [0.3, 0.7], [0.9, 0.1]])
    ids, which, combined = combine_views(probs, np.array(["b", "a", "b"]))
    assert list(ids) == ["a", "b"] and list(which) == [1, 0, 1]
    np.testing.assert_allclose(combined[0], [0.3, 0.7])
    product = np.array([0.6 * 0.9, 0.4 * 0.1])
    np.testing.assert_allclose(combined[1], product / product.sum())



def test_collapse_threshold_is_two_standard_errors_above_the_majority_class():
    from autoorder.core.stats import collapse_threshold

    assert collapse_threshold(0.125, 288) == pytest.approx(0.125 + 2 * np.sqrt(0.125 * 0.875 / 288))
    assert collapse_threshold(0.5, 100_000) == pytest.approx(0.52)  # never closer than 2 points
    assert collapse_threshold(0.0, 10) == pytest.approx(0.02)


def test_converged_means_stopped_early_or_flat_over_the_last_fifth():
    from autoorder.core.stats import converged

    rising = [0.1 * i for i in range(10)]
    assert converged(rising, 10) is False  # still climbing when the epochs ran out
    assert converged(rising[:6], 10) is True  # stopped early (patience)
    plateau = [0.5, 0.6, 0.7, 0.75, 0.78, 0.8, 0.8, 0.805, 0.8, 0.8]
    assert converged(plateau, 10) is True
    assert converged([0.5, 0.6], 2) is None and converged([], 5) is None
