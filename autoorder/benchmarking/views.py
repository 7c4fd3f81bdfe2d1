"""How well a simple classifier tells the view (the order value) from one photo.

When it can, the upload order is a free, clean view label: a gain from feeding it is then sample
and model efficiency (the model need not learn to tell front from back), not information the
photos lack. Recorded per repeat in benchmark.json (`view_classifier`) and in benchmarks/README.md.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

VIEW_SIZE = 8
WHAT = (f"logistic regression on {VIEW_SIZE}x{VIEW_SIZE} grayscale pixels of one photo, trained on the train split's "
        "photos to predict their order value, tested on the test split's (photos of unknown order left out)")


def downsample(images: np.ndarray, size: int = VIEW_SIZE) -> np.ndarray:
    """(n, h, w, 3) uint8 -> (n, size * size) grayscale in [0, 1], each pixel the mean of its area."""
    gray = np.asarray(images, dtype=np.float32).mean(axis=3)
    out = [np.asarray(Image.fromarray(g).resize((size, size), Image.Resampling.BOX), dtype=np.float32) for g in gray]
    return np.stack(out).reshape(len(gray), -1) / 255.0 if out else np.zeros((0, size * size), np.float32)


def view_classifier(images: np.ndarray, orders: np.ndarray, split: np.ndarray) -> tuple[float | None, float | None]:
    """(test accuracy of the view classifier, test accuracy of always the most frequent train order).

    None, None when train or test has no photo of known order, or train only one order value."""
    orders = np.asarray(orders)
    train = (split == "train") & (orders > 0)
    test = (split == "test") & (orders > 0)
    if not test.any() or len(np.unique(orders[train])) < 2:
        return None, None
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(downsample(images[train]), orders[train])
    accuracy = float((model.predict(downsample(images[test])) == orders[test]).mean())
    values, counts = np.unique(orders[train], return_counts=True)
    chance = float((orders[test] == values[counts.argmax()]).mean())
    return accuracy, chance
