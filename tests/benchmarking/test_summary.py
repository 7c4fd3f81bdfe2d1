"""The benchmark's figures from per-seed probabilities: gain, controls, per order, per object."""

import types

import numpy as np
import pytest

from autoorder.benchmarking.summary import (
    object_predictions,
    order_only_predictions,
    summarise,
)


def _fake_data():
    rng = np.random.default_rng(0)
    n_obj = 30
    groups = np.repeat([f"o{i}" for i in range(n_obj)], 3)
    y = np.repeat(rng.integers(0, 2, n_obj), 3)
    orders = np.tile([1, 2, 3], n_obj)
    split = np.array(["train"] * 45 + ["val"] * 15 + ["test"] * 30)
    d = types.SimpleNamespace(y=y, orders=orders, groups=groups, split=split, classes=["a", "b"])
    d.indices = lambda name: np.flatnonzero(split == name)
    return d


def test_object_predictions_sum_log_probabilities():
    probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.45, 0.55], [0.2, 0.8]])
    ids, pred = object_predictions(probs, np.array(["o1", "o1", "o1", "o2"]))
    # o1: log .9 + log .4 + log .45 = -1.8 vs log .1 + log .6 + log .55 = -3.4 -> class 0
    assert list(ids) == ["o1", "o2"] and list(pred) == [0, 1]


def test_order_only_uses_the_majority_label_per_order():
    pred = order_only_predictions(np.array([1, 1, 2, 2, 2]), np.array([0, 0, 1, 1, 0]), np.array([1, 2, 3]), 2)
    assert list(pred) == [0, 1, 0]  # unseen order -> overall majority (label 0: 3 of 5)


def test_summarise_computes_gain_controls_and_per_order():
    d = _fake_data()
    yt = d.y[d.indices("test")]
    perfect = np.eye(2)[yt] * 0.9 + 0.05
    wrong_back = perfect.copy()
    back = d.orders[d.indices("test")] == 2
    wrong_back[back] = perfect[back][:, ::-1]  # image-only fails every back view
    runs = {
        "image_only": [{"probs": wrong_back, "probs_shuffled": wrong_back}] * 2,
        "order_aware": [{"probs": perfect, "probs_shuffled": wrong_back}] * 2,
    }
    r = summarise(d, runs, [0, 1])
    assert r["image_only"]["test_accuracy"]["mean"] == pytest.approx(2 / 3)
    assert r["order_aware"]["test_accuracy"]["mean"] == pytest.approx(1.0)
    assert r["gain"]["mean"] == pytest.approx(1 / 3)
    assert r["per_order"]["image_only"]["2"]["mean"] == 0.0 and r["per_order"]["order_aware"]["2"]["mean"] == 1.0
    assert r["controls"]["shuffled_order"]["mean"] == pytest.approx(2 / 3)
    assert 0 <= r["controls"]["majority_class"]["accuracy"] <= 1
    assert r["order_aware"]["object_accuracy"]["objects"] == 10

