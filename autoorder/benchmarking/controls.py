"""The orders each control feeds the models, and the seed-free control models. Plain numpy.

- `shuffled_order`: the order-aware model with the orders permuted across all test photos.
- `noncompliance_*`: the order-aware model when the photos of 1%, 5% or 20% of the test objects
  were uploaded in another order (their orders permuted among their own photos, never left as
  they were); the objects of a smaller share are among those of a larger one.
- `order_unknown`: the order-aware model with every order unknown (0).
- `architecture_only`: the order-aware best configuration trained and tested with one constant
  order for every photo: the architecture (FiLM, gates, embeddings) without the information.
- `order_only` and `majority_class`: what the order alone, or nothing, predicts.
"""

from __future__ import annotations

import numpy as np

NONCOMPLIANCE = {"1%": ("noncompliance_1pct", 0.01), "5%": ("noncompliance_5pct", 0.05), "20%": ("noncompliance_20pct", 0.20)}
ORDER_UNKNOWN = "order_unknown"
SHUFFLED = "shuffled_order"
ARCHITECTURE_ONLY = "architecture_only"
ORDER_ONLY = "order_only"
MAJORITY = "majority_class"
CONSTANT_ORDER = 1  # the order every photo gets in the architecture-only control
SEED_FREE = (ORDER_ONLY, MAJORITY)


def shuffled_orders(orders: np.ndarray, seed: int) -> np.ndarray:
    """The test orders permuted across all test photos."""
    return np.random.default_rng([seed, 1]).permutation(np.asarray(orders))


def _permute_within(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A permutation of an object's orders that changes at least one photo's order (if any can change)."""
    if len(np.unique(values)) < 2:
        return values.copy()
    while True:
        out = values[rng.permutation(len(values))]
        if not np.array_equal(out, values):
            return out


def noncompliant_orders(orders: np.ndarray, groups: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Arm name -> test orders with the photos of that share of objects uploaded in another order.

    The objects are drawn once (a random order of the test objects); a share takes the first
    round(share x objects) of them, at least one, so smaller shares are nested in larger ones."""
    orders = np.asarray(orders)
    groups = np.asarray(groups)
    rng = np.random.default_rng([seed, 2])
    objects = np.unique(groups)
    drawn = objects[rng.permutation(len(objects))]
    permuted = {obj: _permute_within(orders[groups == obj], rng) for obj in drawn}
    out = {}
    for arm, share in NONCOMPLIANCE.values():
        k = min(len(drawn), max(1, int(round(share * len(drawn)))))
        new = orders.copy()
        for obj in drawn[:k]:
            new[groups == obj] = permuted[obj]
        out[arm] = new
    return out


def order_variants(orders: np.ndarray, groups: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Every order set the order-aware model is tested with: the true orders first, then the controls."""
    orders = np.asarray(orders)
    return {
        "order_aware": orders,
        SHUFFLED: shuffled_orders(orders, seed),
        **noncompliant_orders(orders, groups, seed),
        ORDER_UNKNOWN: np.zeros_like(orders),
    }


def order_only_predictions(train_orders, train_y, test_orders, n_classes: int) -> np.ndarray:
    """The best classifier from the order alone: the majority label of each order value in train."""
    train_y = np.asarray(train_y)
    overall = np.bincount(train_y, minlength=n_classes).argmax()
    table = {int(o): np.bincount(train_y[train_orders == o], minlength=n_classes).argmax() for o in np.unique(train_orders)}
    return np.array([table.get(int(o), overall) for o in test_orders], dtype=np.int64)


def majority_predictions(train_y, n_test: int, n_classes: int) -> np.ndarray:
    """Always the most frequent label in train."""
    return np.full(n_test, np.bincount(np.asarray(train_y), minlength=n_classes).argmax(), dtype=np.int64)
