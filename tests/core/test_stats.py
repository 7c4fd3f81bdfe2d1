"""Collapse, convergence, and views combined per object."""

import numpy as np
import pytest

# Intervals, p-values and their calibration: tests/core/test_bootstrap.py.


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
