"""The figures of `autoorder evaluate`, on hand-made probabilities (no model, no TensorFlow run)."""

from __future__ import annotations

import numpy as np
import pytest

from autoorder.run.evaluate import score


def test_score_per_photo_class_order_and_object():
    classes = ["cat", "dog", "fox"]
    # Two objects of 3 photos: object A (cat) has one wrong photo, object B (dog) is all right.
    probs = np.array([
        [0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.8, 0.1, 0.1],   # A: cat, dog (wrong), cat
        [0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.3, 0.6, 0.1],   # B: dog, dog, dog
    ])
    y = np.array([0, 0, 0, 1, 1, 1])
    orders = np.array([1, 2, 3, 1, 2, 0])
    groups = np.array(["A", "A", "A", "B", "B", "B"])
    ev = score(probs, y, classes, orders, groups)
    assert ev["accuracy"] == pytest.approx(5 / 6)
    assert ev["balanced_accuracy"] == pytest.approx((2 / 3 + 1) / 2)  # fox is absent from the labels
    assert ev["per_class"]["cat"] == {"precision": 1.0, "recall": pytest.approx(2 / 3), "f1": pytest.approx(0.8), "support": 3}
    assert ev["per_class"]["dog"]["precision"] == pytest.approx(3 / 4) and ev["per_class"]["dog"]["recall"] == 1.0
    assert ev["per_class"]["fox"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert ev["per_order"] == {"0": {"n": 1, "accuracy": 1.0}, "1": {"n": 2, "accuracy": 1.0},
                               "2": {"n": 2, "accuracy": 0.5}, "3": {"n": 1, "accuracy": 1.0}}
    assert ev["per_object"] == {"objects": 2, "accuracy": 1.0, "balanced_accuracy": 1.0}  # A's views outvote its wrong photo
    assert ev["confusion_matrix"]["matrix"] == [[2, 1, 0], [0, 3, 0], [0, 0, 0]]
    assert score(probs, y, classes, orders, None)["per_object"] is None
