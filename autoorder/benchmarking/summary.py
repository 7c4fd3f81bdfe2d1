"""All figures of benchmark.json, from the per-seed test probabilities of both arms.

Plain numpy: the same figures can be recomputed from saved probabilities without TensorFlow.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autoorder.core.stats import combine_views, excludes_zero, mean_ci, paired_bootstrap
from autoorder.schema.benchmark import ARMS


def _accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    return float((pred == y).mean()) if len(y) else float("nan")


def object_predictions(probs: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Combine an object's views by summing log-probabilities. Returns (object ids, predicted class)."""
    uniq, _, combined = combine_views(probs, groups)
    return uniq, combined.argmax(axis=1)


def order_only_predictions(train_orders, train_y, test_orders, n_classes: int) -> np.ndarray:
    """The best classifier from the order alone: the majority label of each order value in train."""
    overall = np.bincount(train_y, minlength=n_classes).argmax()
    table = {int(o): np.bincount(train_y[train_orders == o], minlength=n_classes).argmax() for o in np.unique(train_orders)}
    return np.array([table.get(int(o), overall) for o in test_orders])


def summarise(data: Any, runs: dict[str, list[dict]], seeds: list[int]) -> dict:
    """All figures of benchmark.json from the per-seed test probabilities of both arms."""
    idx = data.indices("test")
    y = data.y[idx]
    orders = data.orders[idx]
    groups = data.groups[idx]
    obj_ids, obj_first = np.unique(groups, return_index=True)
    obj_y = y[obj_first]
    out: dict = {}
    correct: dict[str, np.ndarray] = {}
    for arm in ARMS:
        preds = np.stack([r["probs"].argmax(1) for r in runs[arm]])
        correct[arm] = preds == y
        accs = [_accuracy(p, y) for p in preds]
        per_order = {}
        for o in sorted(set(int(v) for v in orders)):
            m = orders == o
            per_order[str(o)] = {**mean_ci([_accuracy(p[m], y[m]) for p in preds]), "images": int(m.sum())}
        obj_accs = []
        for r in runs[arm]:
            ids, pred = object_predictions(r["probs"], groups)
            assert list(ids) == list(obj_ids)
            obj_accs.append(_accuracy(pred, obj_y))
        out[arm] = {
            "test_accuracy": {**mean_ci(accs), "per_seed": dict(zip(map(str, seeds), accs))},
            "object_accuracy": {**mean_ci(obj_accs), "per_seed": dict(zip(map(str, seeds), obj_accs)), "objects": int(len(obj_ids))},
            "per_order": per_order,
        }
    gains = [out["order_aware"]["test_accuracy"]["per_seed"][str(s)] - out["image_only"]["test_accuracy"]["per_seed"][str(s)] for s in seeds]
    gain = {**mean_ci(gains), "per_seed": dict(zip(map(str, seeds), gains))}
    gain["bootstrap"] = paired_bootstrap(correct["image_only"], correct["order_aware"], groups)
    gain["excludes_zero"] = excludes_zero(gain) if gain["low"] is not None else excludes_zero(gain["bootstrap"])
    obj_gains = [
        out["order_aware"]["object_accuracy"]["per_seed"][str(s)] - out["image_only"]["object_accuracy"]["per_seed"][str(s)] for s in seeds
    ]
    out["gain"] = gain
    out["object_gain"] = {**mean_ci(obj_gains), "per_seed": dict(zip(map(str, seeds), obj_gains))}
    tr = data.indices("train")
    n_classes = len(data.classes)
    shuffled = [_accuracy(r["probs_shuffled"].argmax(1), y) for r in runs["order_aware"]]
    out["controls"] = {
        "shuffled_order": {
            **mean_ci(shuffled),
            "per_seed": dict(zip(map(str, seeds), shuffled)),
            "what": "order-aware model, orders permuted across test images",
        },
        "order_only": {
            "accuracy": _accuracy(order_only_predictions(data.orders[tr], data.y[tr], orders, n_classes), y),
            "what": "majority label of each order value in train (the best any order-only model can do)",
        },
        "majority_class": {
            "accuracy": _accuracy(np.full(len(y), np.bincount(data.y[tr], minlength=n_classes).argmax()), y),
            "what": "most frequent label in train",
        },
    }
    out["per_order"] = {arm: out[arm]["per_order"] for arm in ARMS}
    return out
