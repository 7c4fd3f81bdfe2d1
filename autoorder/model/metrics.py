"""Metrics Keras does not ship that a search can optimise: balanced accuracy.

Balanced accuracy is the mean over classes of each class's recall: a model that always answers
the most frequent class scores 1/K whatever the imbalance, where its plain accuracy can look good.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


class BalancedAccuracy(keras.metrics.Metric):
    """Mean per-class recall of sparse labels against class probabilities (classes seen so far)."""

    def __init__(self, num_classes: int, name: str = "balanced_accuracy", **kwargs: Any):
        super().__init__(name=name, **kwargs)
        self.num_classes = int(num_classes)
        self.seen = self.add_variable(shape=(self.num_classes,), initializer="zeros", name="seen")
        self.right = self.add_variable(shape=(self.num_classes,), initializer="zeros", name="right")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        pred = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
        onehot = ops.one_hot(y, self.num_classes)
        correct = ops.cast(ops.equal(y, pred), onehot.dtype)
        self.seen.assign_add(ops.sum(onehot, axis=0))
        self.right.assign_add(ops.sum(onehot * ops.expand_dims(correct, -1), axis=0))

    def result(self) -> Any:
        present = ops.cast(ops.greater(self.seen, 0), "float32")
        recall = ops.divide_no_nan(self.right, self.seen)
        return ops.divide_no_nan(ops.sum(recall * present), ops.sum(present))

    def reset_state(self) -> None:
        self.seen.assign(ops.zeros_like(self.seen))
        self.right.assign(ops.zeros_like(self.right))

    def get_config(self) -> dict:
        return {**super().get_config(), "num_classes": self.num_classes}
