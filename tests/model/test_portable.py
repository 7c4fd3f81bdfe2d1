"""The exported graph's order lookup: the same indices as Keras' IntegerLookup, without a hash table."""

from __future__ import annotations

import keras
import numpy as np

from autoorder.model.portable import OrderIndex, portable


def test_order_index_equals_integer_lookup_for_every_value():
    vocabulary = [1, 2, 3, 17]
    lookup = keras.layers.IntegerLookup(vocabulary=vocabulary, num_oov_indices=1)
    values = np.array([1, 2, 3, 17, 0, -1, 4, 1000, 2], dtype=np.int32)
    expected = np.asarray(lookup(values))
    got = np.asarray(OrderIndex(vocabulary)(values))
    assert got.tolist() == expected.tolist() == [1, 2, 3, 4, 0, 0, 0, 0, 2]


def test_portable_copy_replaces_nested_lookups_and_shares_every_weight():
    order = keras.Input((), dtype="int32", name="order")
    feats = keras.Input((4,), name="features")
    index = keras.layers.IntegerLookup(vocabulary=[1, 2, 3], num_oov_indices=1, name="order_lookup")(order)
    emb = keras.layers.Embedding(4, 2, name="emb")(index)
    head = keras.Model({"features": feats, "order": order}, keras.layers.Concatenate()([feats, emb]), name="head")
    image = keras.Input((4,), name="image")
    order2 = keras.Input((), dtype="int32", name="order")
    model = keras.Model({"image": image, "order": order2}, head({"features": image, "order": order2}))
    copy = portable(model)
    layers = [layer for m in (copy, *[x for x in copy.layers if isinstance(x, keras.Model)]) for layer in m.layers]
    assert not any(isinstance(layer, keras.layers.IntegerLookup) for layer in layers)
    assert any(isinstance(layer, OrderIndex) for layer in layers)
    x = {"image": np.random.default_rng(0).normal(size=(5, 4)).astype("float32"), "order": np.array([1, 2, 3, 0, 9], "int32")}
    assert np.allclose(copy.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    # The same layer objects: weights trained in one are the other's.
    assert copy.get_layer("head").get_layer("emb") is model.get_layer("head").get_layer("emb")
