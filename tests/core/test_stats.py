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

