"""The orders each control feeds the order-aware model, and the seed-free control models."""

from __future__ import annotations

import numpy as np

from autoorder.benchmarking import controls as K


def _objects(n: int):
    groups = np.repeat([f"o{i:03d}" for i in range(n)], 3)
    orders = np.tile([1, 2, 3], n)
    return orders, groups


def test_noncompliance_permutes_the_photos_of_a_nested_share_of_objects():
    orders, groups = _objects(100)
    out = K.noncompliant_orders(orders, groups, seed=5)
    assert list(out) == ["noncompliance_1pct", "noncompliance_5pct", "noncompliance_20pct"]
    changed = {}
    for arm, new in out.items():
        objs = {g for g in np.unique(groups) if not np.array_equal(new[groups == g], orders[groups == g])}
        for g in np.unique(groups):  # every object keeps its own order values, permuted or not
            assert sorted(new[groups == g]) == sorted(orders[groups == g])
        changed[arm] = objs
    assert [len(v) for v in changed.values()] == [1, 5, 20]
    assert changed["noncompliance_1pct"] <= changed["noncompliance_5pct"] <= changed["noncompliance_20pct"]
    assert np.array_equal(K.noncompliant_orders(orders, groups, seed=5)["noncompliance_5pct"], out["noncompliance_5pct"])
    assert not np.array_equal(K.noncompliant_orders(orders, groups, seed=6)["noncompliance_20pct"], out["noncompliance_20pct"])


def test_at_least_one_object_and_objects_that_cannot_change_are_left_as_they_are():
    orders, groups = _objects(10)
    assert sum(not np.array_equal(n, orders) for n in K.noncompliant_orders(orders, groups, 0).values()) == 3
    single = K.noncompliant_orders(np.array([1, 1, 0]), np.array(["a", "a", "b"]), 0)
    assert all(np.array_equal(v[:2], [1, 1]) for v in single.values())


def test_order_variants_true_first_then_every_control():
    orders, groups = _objects(20)
    v = K.order_variants(orders, groups, seed=3)
    assert list(v) == ["order_aware", "shuffled_order", "noncompliance_1pct", "noncompliance_5pct",
                       "noncompliance_20pct", "order_unknown"]
    assert np.array_equal(v["order_aware"], orders) and not v["order_unknown"].any()
    assert sorted(v["shuffled_order"]) == sorted(orders) and not np.array_equal(v["shuffled_order"], orders)


def test_order_only_uses_the_majority_label_per_order():
    pred = K.order_only_predictions(np.array([1, 1, 2, 2, 2]), np.array([0, 0, 1, 1, 0]), np.array([1, 2, 3]), 2)
    assert list(pred) == [0, 1, 0]  # unseen order -> overall majority (label 0: 3 of 5)
    assert list(K.majority_predictions(np.array([2, 2, 1]), 3, 3)) == [2, 2, 2]
