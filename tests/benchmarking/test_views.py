"""The view classifier: how well one photo's pixels tell its order value."""

from __future__ import annotations

import numpy as np

from autoorder.benchmarking.views import VIEW_SIZE, downsample, view_classifier


def _photos(n_obj: int, tell: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    orders = np.tile([1, 2, 3], n_obj)
    level = np.where(orders == 2, 200, 60) if tell else np.full(len(orders), 120)
    images = np.clip(level[:, None, None, None] + rng.normal(0, 25, (len(orders), 16, 16, 3)), 0, 255).astype(np.uint8)
    split = np.repeat(np.where(np.arange(n_obj) < n_obj * 2 // 3, "train", "test"), 3)
    return images, orders, split


def test_downsample_is_the_area_mean_in_gray():
    img = np.zeros((1, 16, 16, 3), np.uint8)
    img[0, :8] = 255
    x = downsample(img)
    assert x.shape == (1, VIEW_SIZE * VIEW_SIZE)
    assert np.allclose(x.reshape(VIEW_SIZE, VIEW_SIZE)[:4], 1.0) and np.allclose(x.reshape(VIEW_SIZE, VIEW_SIZE)[4:], 0.0)


def test_a_view_the_pixels_show_is_told_apart_and_chance_is_reported():
    acc, chance = view_classifier(*_photos(60, tell=True))
    assert acc >= 0.6 and chance == 1 / 3  # the back is told from the others; front and other look alike
    acc, _ = view_classifier(*_photos(60, tell=False))
    assert acc < 0.55


def test_without_orders_there_is_nothing_to_classify():
    images, orders, split = _photos(9, tell=True)
    assert view_classifier(images, np.zeros_like(orders), split) == (None, None)
