"""Weights copied in with set_weights are the weights a layer computes with, as after a reload."""

from __future__ import annotations

import keras
import numpy as np

from autoorder.model.weights import set_weights


def _normalizing_model() -> keras.Model:
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Normalization(axis=-1, name="norm")(inp)
    sub = keras.Model(inp, keras.layers.Conv2D(2, 3, name="conv")(x), name="inner")
    outer_in = keras.Input((8, 8, 3))
    return keras.Model(outer_in, sub(outer_in))


def test_set_weights_refreshes_cached_statistics_like_a_reload(tmp_path):
    x = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    source = _normalizing_model()
    norm = source.get_layer("inner").get_layer("norm")
    norm.set_weights([np.full(3, 100.0, "float32"), np.full(3, 400.0, "float32"), np.array(0)])
    source.save(tmp_path / "m.keras")
    reloaded = np.asarray(keras.saving.load_model(tmp_path / "m.keras")(x))

    target = _normalizing_model()
    set_weights(target, source.get_weights())
    np.testing.assert_allclose(np.asarray(target(x)), reloaded, rtol=1e-5, atol=1e-5)
