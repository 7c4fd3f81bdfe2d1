"""Balanced accuracy as a Keras metric agrees with scikit-learn's."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import balanced_accuracy_score

from autoorder.model.metrics import BalancedAccuracy


def test_balanced_accuracy_matches_scikit_learn_over_batches():
    rng = np.random.default_rng(0)
    y = np.concatenate([np.zeros(80, int), np.ones(15, int), np.full(5, 2)])  # imbalanced
    probs = rng.dirichlet(np.ones(3), size=len(y)).astype("float32")
    probs[:70, 0] += 2.0  # right on most of the big class only
    metric = BalancedAccuracy(3)
    for start in range(0, len(y), 32):  # batches, as during an epoch
        metric.update_state(y[start:start + 32], probs[start:start + 32])
    assert float(metric.result()) == np.float32(balanced_accuracy_score(y, probs.argmax(1)))
    metric.reset_state()
    metric.update_state(np.array([1, 1]), np.array([[0.1, 0.9, 0.0], [0.9, 0.1, 0.0]], "float32"))
    assert float(metric.result()) == 0.5  # classes never seen do not count
