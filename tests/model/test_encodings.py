import keras
import keras_tuner as kt
import numpy as np
import pytest

from autoorder.model.assembly import HeadSpec, build_head
from autoorder.model.catalog import create_encoding, list_encodings

ENCODINGS = list_encodings()


def _head(name, vocab=(1, 2, 3), depth=0):
    spec = HeadSpec(num_classes=3, order_vocabulary=tuple(vocab), depth=depth, width=16, dropout=0.0)
    hp = kt.HyperParameters()
    with hp.name_scope(name):
        head = build_head((8,), spec, create_encoding(name), hp)
    head.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return head


def test_builtins_are_registered():
    assert {"none", "scalar", "onehot", "embedding", "film", "gate"} <= set(ENCODINGS)


@pytest.mark.parametrize("name", ENCODINGS)
def test_builds_trains_saves_and_handles_unknown_order(tmp_path, name):
    head = _head(name)
    x = {"features": np.random.rand(12, 8).astype("float32"), "order": np.array([1, 2, 3] * 4, "int32")}
    y = np.array([0, 1, 2] * 4)
    head.fit(x, y, epochs=1, verbose=0)
    # Orders never seen in training (0 = missing, 9 = new) fall in the unknown bucket.
    probe = {"features": x["features"][:3], "order": np.array([0, 9, -4], "int32")}
    p = head.predict(probe, verbose=0)
    assert p.shape == (3, 3) and np.allclose(p.sum(1), 1, atol=1e-5)
    path = tmp_path / "h.keras"
    head.save(path)
    again = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(again.predict(probe, verbose=0), p, atol=1e-6)


@pytest.mark.parametrize("name", [n for n in ENCODINGS if n != "none"])
def test_order_aware_encodings_learn_from_order(name):
    """Label = order; the image features are noise. Only an encoding that uses order can learn it."""
    rng = np.random.default_rng(0)
    n = 300
    order = rng.integers(1, 4, n).astype("int32")
    x = {"features": rng.normal(size=(n, 8)).astype("float32"), "order": order}
    y = order - 1
    keras.utils.set_random_seed(0)
    head = _head(name, depth=1)
    head.fit(x, y, epochs=40, batch_size=32, verbose=0)
    acc = (head.predict(x, verbose=0).argmax(1) == y).mean()
    assert acc > 0.9, f"{name}: {acc}"


def test_image_only_baseline_ignores_order():
    head = _head("none")
    f = np.random.rand(3, 8).astype("float32")
    a = head.predict({"features": f, "order": np.array([1, 2, 3], "int32")}, verbose=0)
    b = head.predict({"features": f, "order": np.array([3, 1, 2], "int32")}, verbose=0)
    np.testing.assert_allclose(a, b)
