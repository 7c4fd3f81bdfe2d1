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


def _scoring_setup(size: int = 6, n: int = 40, agree: bool = True):
    """A trained model on cached features (per-channel means of the photos) and an exported one on photos."""
    import tensorflow as tf

    rng = np.random.default_rng(1)
    data = SimpleNamespace(pixels=rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
                           orders=rng.integers(1, 4, n).astype(np.int32), classes=["a", "b", "c"], y=rng.integers(0, 3, n))
    features = data.pixels.astype(np.float32).mean(axis=(1, 2))

    def head(seed: int) -> keras.Model:
        keras.utils.set_random_seed(seed)
        feats = keras.Input((3,), name="features")
        order = keras.Input((), dtype="int32", name="order")
        x = keras.layers.Concatenate()([keras.layers.Rescaling(1 / 255)(feats), keras.layers.CategoryEncoding(4, output_mode="one_hot")(order)])
        return keras.Model({"features": feats, "order": order}, keras.layers.Dense(3, activation="softmax")(x))

    trained = head(0)
    image = keras.Input((size, size, 3), name="image")
    order = keras.Input((), dtype="int32", name="order")
    exported_head = trained if agree else head(1)
    exported = keras.Model({"image": image, "order": order},
                           exported_head({"features": keras.layers.GlobalAveragePooling2D()(image), "order": order}))
    idx = rng.permutation(n)[:30]

    def dataset(x, split, shuffle, seed):
        assert (split, shuffle) == ("test", False)
        return tf.data.Dataset.from_tensor_slices(({"features": x[idx], "order": data.orders[idx]}, data.y[idx])).batch(4)

    space = SimpleNamespace(cached_inputs=lambda plan: features, last_plan=None, dataset=dataset,
                            cfg=SimpleNamespace(space=SimpleNamespace(batch_size=4)))
    return trained, exported, space, data, idx


def test_the_test_split_is_scored_from_the_cache_as_the_exported_model_scores_the_photos():
    trained, exported, space, data, idx = _scoring_setup()
    probs = export.score_test(trained, exported, space, data, idx)
    np.testing.assert_allclose(probs, export.predict_rows(exported, data, idx), atol=1e-6)
    space.cached_inputs = lambda plan: None  # nothing cached: the exported model scores every photo
    assert np.array_equal(export.score_test(trained, exported, space, data, idx), export.predict_rows(exported, data, idx))


def test_an_exported_model_that_does_not_compute_what_was_scored_is_refused():
    import pytest

    from autoorder.core.errors import RunError

    trained, exported, space, data, idx = _scoring_setup(agree=False)
    with pytest.raises(RunError, match=r"exported model does not compute what its trial was scored with: on 8 test photos"):
        export.score_test(trained, exported, space, data, idx)
