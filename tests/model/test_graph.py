"""Clean cuts of functional graphs and splitting a model at one."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from autoorder.core.errors import PluginError
from autoorder.model.graph import clean_cuts, split_model


def _run(model, x) -> np.ndarray:
    return np.asarray(model(x, training=False))


def _close(a, b, tol: float = 1e-4) -> None:
    b = np.asarray(b)
    np.testing.assert_allclose(np.asarray(a), b, rtol=tol, atol=tol * max(1.0, float(np.abs(b).max())))


# ----- clean cuts ----------------------------------------------------------------------------
def _skip_model():
    i = keras.Input((8, 8, 3), name="in")
    a = keras.layers.Conv2D(4, 3, padding="same", name="a")(i)
    b = keras.layers.Conv2D(4, 3, padding="same", name="b")(a)
    c = keras.layers.Conv2D(4, 3, padding="same", name="c")(b)
    d = keras.layers.Add(name="d")([a, c])  # skip connection a -> d around b, c
    e = keras.layers.Conv2D(4, 3, padding="same", name="e")(d)
    f1 = keras.layers.Conv2D(2, 1, name="f1")(e)  # a branch: e -> (f1 | f2) -> g
    f2 = keras.layers.Conv2D(2, 1, name="f2")(e)
    g = keras.layers.Concatenate(name="g")([f1, f2])
    h = keras.layers.GlobalAveragePooling2D(name="h")(g)
    return keras.Model(i, h, name="skip")


def test_clean_cuts_skip_connection_and_branch():
    model = _skip_model()
    # b and c sit inside the skip, f1 and f2 inside the branch; the input and the output
    # layer are never listed.
    assert clean_cuts(model) == ["a", "d", "e", "g"]


def test_split_model_equivalence_and_shared_layers():
    model = _skip_model()
    x = np.random.default_rng(0).normal(size=(3, 8, 8, 3)).astype("float32")
    prefix, suffix = split_model(model, "d")
    assert tuple(prefix.output.shape) == (None, 8, 8, 4)
    _close(_run(suffix, _run(prefix, x)), _run(model, x), tol=1e-6)
    assert suffix.get_layer("e") is model.get_layer("e")  # shared: training the suffix trains the model
    assert "a" not in {layer.name for layer in suffix.layers}


def test_split_model_refuses_what_is_not_a_clean_cut():
    model = _skip_model()
    with pytest.raises(PluginError, match=r"'skip' cannot be split at 'b': a skip connection.*\['a', 'd', 'e', 'g'\]"):
        split_model(model, "b")
    with pytest.raises(PluginError, match=r"cannot be split at 'h'"):
        split_model(model, "h")
    with pytest.raises(PluginError, match=r"'nope': it is not the name of a top-level layer"):
        split_model(model, "nope")


def test_clean_cuts_treat_nested_models_as_one_layer():
    inner_in = keras.Input((8, 8, 4))
    t = keras.layers.Conv2D(4, 3, padding="same", name="inner_conv")(inner_in)
    inner = keras.Model(inner_in, keras.layers.Add(name="inner_add")([inner_in, t]), name="block")
    i = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 1, name="stem")(i)
    x = inner(x)
    x = keras.layers.Conv2D(4, 1, name="head")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    model = keras.Model(i, x)
    assert clean_cuts(model) == ["stem", "block", "head"]
    prefix, suffix = split_model(model, "block")
    xs = np.random.default_rng(1).normal(size=(2, 8, 8, 3)).astype("float32")
    _close(_run(suffix, _run(prefix, xs)), _run(model, xs), tol=1e-6)


def test_clean_cuts_of_a_sequential_model():
    model = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 3, name="c1"), keras.layers.Flatten(name="flat"),
         keras.layers.Dense(2, name="out")]
    )
    assert clean_cuts(model) == ["c1", "flat"]


def test_clean_cuts_refuse_a_subclassed_model():
    class Sub(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(PluginError, match="no functional graph"):
        clean_cuts(Sub())

