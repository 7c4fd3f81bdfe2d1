"""The lean training loop trains as Keras' fit does, drives the same callbacks, and knows its limits."""

from __future__ import annotations

import keras
import keras_tuner as kt
import numpy as np
import pytest
import tensorflow as tf

from autoorder.model import loop
from autoorder.model.assembly import HeadSpec, build_head, build_training_model
from autoorder.model.catalog import builtins
from autoorder.model.metrics import BalancedAccuracy

CLASSES = 3


def _data(n: int, seed: int) -> tuple:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)
    x = rng.normal(size=(n, 16)).astype("float32") + y[:, None].astype("float32") * 0.5
    orders = rng.integers(1, 4, n).astype("int32")
    return x, orders, y


def _dataset(n: int, seed: int, shuffle: bool, batch: int = 8, maps: bool = False) -> tf.data.Dataset:
    x, o, y = _data(n, seed)
    ds = tf.data.Dataset.from_tensor_slices((x.reshape(n, 4, 4, 1) if maps else x, o, y))
    if shuffle:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch).map(lambda a, b, c: ({"features": a, "order": b}, c))


def _model(dropout: float = 0.2, optimizer: keras.optimizers.Optimizer | None = None, metrics=("accuracy",),
           maps: bool = False) -> keras.Model:
    """A head on 16 features; with `maps`, on 4 x 4 x 1 feature maps through a small convolution."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(5)
    hp = kt.HyperParameters()
    width = 3 if maps else 16
    with hp.name_scope("onehot"):
        head = build_head((width,), HeadSpec(CLASSES, (1, 2, 3), 1, 12, dropout), builtins().get_encoding("onehot"), hp)
    if maps:
        trunk = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(width, 3, padding="same", activation="relu")])
        model = build_training_model(trunk, (4, 4, 1), head)
    else:
        model = build_training_model(None, (16,), head)
    if optimizer is None:
        schedule = keras.optimizers.schedules.CosineDecay(1e-4, 40, alpha=0.01, warmup_target=0.01, warmup_steps=10)
        optimizer = keras.optimizers.Adam(schedule, global_clipnorm=1.0)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=list(metrics))
    return model


def _train(kind: str, epochs: int = 3, class_weight=None, shuffle: bool = False, maps: bool = False,
           **model_kwargs) -> tuple[list, dict]:
    # Unshuffled: Keras' fit does not draw its epochs' orders in the dataset's order of iterations
    model = _model(maps=maps, **model_kwargs)
    train, val = _dataset(100, 1, shuffle, maps=maps), _dataset(40, 2, False, maps=maps)
    if kind == "loop":
        assert loop.supports(model)
        history = loop.fit(model, train, val, epochs, class_weight=class_weight, batch_size=8)
    else:
        history = model.fit(train, validation_data=val, epochs=epochs, verbose=0, shuffle=False, class_weight=class_weight)
    return model.get_weights(), history.history


@pytest.mark.parametrize("class_weight, maps", [(None, False), ({0: 2.0, 1: 0.5, 2: 1.0}, False), (None, True)],
                         ids=["head", "class-weights", "feature-maps"])
def test_it_trains_as_keras_fit_does_up_to_rounding(class_weight, maps):
    """Same initial weights, batches and dropout masks: the same weights and logs, but for float rounding.
    A head (light: no Grappler, eager validation) and a model on feature maps (traced validation)."""
    assert loop._light(_model(maps=maps)) is not maps
    weights, history = _train("loop", class_weight=class_weight, maps=maps)
    keras_weights, keras_history = _train("keras", class_weight=class_weight, maps=maps)
    for a, b in zip(weights, keras_weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert set(history) == set(keras_history)
    for key in history:
        np.testing.assert_allclose(history[key], keras_history[key], rtol=1e-4, atol=1e-5, err_msg=key)
    assert any(not np.allclose(a, b) for a, b in zip(weights, _model(maps=maps).get_weights()))  # it did train


def test_epochs_read_from_one_stream_get_the_shuffles_of_reading_the_dataset_anew():
    def rows() -> tf.data.Dataset:  # row numbers as the labels, shuffled every epoch, in batches of 4
        ids = np.arange(30)
        return tf.data.Dataset.from_tensor_slices(({"features": ids.astype("float32")[:, None]}, ids)).shuffle(
            30, seed=4, reshuffle_each_iteration=True).batch(4)

    anew = rows()
    expected = [[int(v) for _, y in anew for v in y] for _ in range(3)]
    _, epochs = loop._epoch_chunks(rows(), 8, 3)
    got = [[int(v) for _, y in epochs() for v in y] for _ in range(3)]
    assert got == expected and expected[0] != expected[1]
    assert [len(y) for _, y in epochs()] == []  # three epochs asked for, three given


def test_a_heads_validation_rows_are_read_once_and_kept_for_later_epochs():
    reads: list[int] = []
    x, o, y = _data(40, 2)

    def rows():
        reads.append(1)
        yield from zip(x, o, y)

    spec = (tf.TensorSpec((16,), tf.float32), tf.TensorSpec((), tf.int32), tf.TensorSpec((), tf.int64))
    counted = tf.data.Dataset.from_generator(rows, output_signature=spec).batch(8).map(
        lambda a, b, c: ({"features": a, "order": b}, c))
    kept = loop.fit(_model(), _dataset(100, 1, True), counted, 3, batch_size=8).history
    assert len(reads) == 1  # three epochs, one read of the validation rows
    again = loop.fit(_model(), _dataset(100, 1, True), _dataset(40, 2, False), 3, batch_size=8).history
    for key in ("val_loss", "val_accuracy"):
        np.testing.assert_allclose(kept[key], again[key], rtol=1e-6, err_msg=key)
    assert kept["val_loss"][0] != kept["val_loss"][-1]  # the kept rows meet each epoch's weights


def test_balanced_accuracy_is_keras_metric_on_the_validation_set():
    model = _model(metrics=("accuracy", BalancedAccuracy(CLASSES)))
    train, val = _dataset(60, 1, True), _dataset(40, 2, False)
    history = loop.fit(model, train, val, 2, balanced=True, batch_size=8)
    metric = BalancedAccuracy(CLASSES)
    for x, y in val:
        metric.update_state(y, model(x, training=False))
    assert history.history["val_balanced_accuracy"][-1] == pytest.approx(float(metric.result()), abs=1e-6)
    assert "val_balanced_accuracy" not in loop.fit(_model(), train, val, 1, batch_size=8).history


def test_callbacks_see_keras_hooks_and_can_stop_training():
    seen: list[str] = []

    class Spy(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.append("train_begin")

        def on_epoch_begin(self, epoch, logs=None):
            seen.append(f"epoch_begin {epoch}")

        def on_train_batch_end(self, batch, logs=None):
            seen.append("batch")

        def on_epoch_end(self, epoch, logs=None):
            seen.append(f"epoch_end {epoch} {sorted(logs)}")
            if epoch == 2:
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            seen.append("train_end")

    model = _model()
    history = loop.fit(model, _dataset(100, 1, True), _dataset(40, 2, False), 6, initial_epoch=1,
                       callbacks=[Spy()], batch_size=8)
    assert history.epoch == [1, 2]  # resumed at epoch 1, stopped after epoch 2
    assert seen[0] == "train_begin" and seen[-1] == "train_end"
    assert "epoch_end 1 ['accuracy', 'loss', 'val_accuracy', 'val_loss']" in seen
    # 100 rows in batches of 8 are 13 batches: one call per epoch for a head on feature vectors
    # (up to LIGHT_STEPS_PER_CALL batches a call), batch hooks once per call
    assert loop._light(model) and loop.LIGHT_STEPS_PER_CALL >= 13
    assert seen.count("batch") == 2
    assert model.optimizer.iterations.numpy() == 2 * 13


def test_keras_early_stopping_ends_training_where_it_ends_keras_fit():
    def stop() -> keras.callbacks.Callback:
        return keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=1, mode="max", baseline=1.01)

    train, val = _dataset(100, 1, False), _dataset(40, 2, False)  # the same epochs in both
    ours = loop.fit(_model(), train, val, 10, callbacks=[stop()], batch_size=8)
    theirs = _model().fit(train, validation_data=val, epochs=10, callbacks=[stop()], verbose=0, shuffle=False)
    assert ours.epoch == theirs.epoch
    assert len(ours.epoch) < 10


def test_the_same_seed_trains_the_same_weights():
    a, _ = _train("loop", shuffle=True)
    b, _ = _train("loop", shuffle=True)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_regularisation_losses_are_part_of_the_loss():
    def build() -> keras.Model:
        keras.backend.clear_session()
        keras.utils.set_random_seed(1)
        feats = keras.Input((16,), name="features")
        order = keras.Input((), dtype="int32", name="order")
        probs = keras.layers.Dense(CLASSES, activation="softmax", kernel_regularizer=keras.regularizers.L2(0.5))(feats)
        model = keras.Model({"features": feats, "order": order}, probs)
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    ours = build()
    a = loop.fit(ours, _dataset(40, 1, False), None, 2, batch_size=8).history["loss"]
    theirs = build()
    b = theirs.fit(_dataset(40, 1, False), epochs=2, verbose=0, shuffle=False).history["loss"]
    np.testing.assert_allclose(a, b, rtol=1e-4)


@pytest.mark.parametrize(
    "optimizer",
    [
        lambda: keras.optimizers.SGD(0.01),
        lambda: keras.optimizers.Adam(0.01, amsgrad=True),
        lambda: keras.optimizers.Adam(0.01, clipvalue=1.0),
        lambda: keras.optimizers.AdamW(0.01),
    ],
    ids=["sgd", "amsgrad", "clipvalue", "adamw"],
)
def test_what_it_does_not_do_is_left_to_keras(optimizer):
    assert not loop.supports(_model(optimizer=optimizer()))
    assert loop.supports(_model())
    other_loss = _model()
    other_loss.compile(optimizer="adam", loss="categorical_crossentropy")
    assert not loop.supports(other_loss)


def test_a_call_holds_a_few_batches_of_small_rows_and_one_batch_of_large_photos():
    def spec(*shape: int) -> tuple:
        return ({"features": tf.TensorSpec((None, *shape)), "order": tf.TensorSpec((None,), tf.int32)}, tf.TensorSpec((None,)))

    assert loop._rows_per_call(spec(1280), 32, 32 * loop.STEPS_PER_CALL) == 32 * loop.STEPS_PER_CALL
    assert loop._rows_per_call(spec(224, 224, 3), 32, 32 * loop.STEPS_PER_CALL) == 32
    assert loop._rows_per_call(spec(224, 224, 3), 32, loop.VAL_ROWS_PER_CALL) == 32
    assert loop._rows_per_call(spec(1280), 32, loop.VAL_ROWS_PER_CALL) == loop.VAL_ROWS_PER_CALL
