"""The exported model is tested a batch at a time: the same probabilities as one big predict."""

from __future__ import annotations

from types import SimpleNamespace

import keras
import numpy as np

from autoorder.run import export


def _model(size: int) -> keras.Model:
    image = keras.Input((size, size, 3), name="image")
    order = keras.Input((), dtype="int32", name="order")
    x = keras.layers.Conv2D(4, 3)(image)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Concatenate()([x, keras.layers.CategoryEncoding(4, output_mode="one_hot")(order)])
    return keras.Model({"image": image, "order": order}, keras.layers.Dense(3, activation="softmax")(x))


def test_chunked_test_predictions_equal_one_predict_bit_for_bit():
    rng = np.random.default_rng(0)
    n, size = 150, 8
    data = SimpleNamespace(pixels=rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
                           orders=rng.integers(1, 4, n).astype(np.int32), classes=["a", "b", "c"])
    keras.utils.set_random_seed(0)
    model = _model(size)
    idx = rng.permutation(n)[:140]
    whole = model.predict({"image": data.pixels[idx].astype(np.float32), "order": data.orders[idx]}, batch_size=64, verbose=0)
    assert len(idx) > 2 * export.TEST_CHUNK  # several chunks, the last one partial
    assert np.array_equal(export.predict_rows(model, data, idx), whole)
    assert export.predict_rows(model, data, idx[:0]).shape == (0, 3)
