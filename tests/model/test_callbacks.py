"""The best-epoch checkpoint: held in memory, written once at the end or with the resume state."""

from __future__ import annotations

import keras
import keras_tuner as kt
import numpy as np

from autoorder.model.callbacks import AtomicSaveBestEpoch, EpochState


def _model() -> keras.Model:
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
    model.compile(optimizer="adam", loss="mse")
    return model


def _epoch(model: keras.Model, value: float) -> None:
    """Training moved the weights: every weight is now `value`."""
    model.set_weights([np.full(w.shape, value, dtype=w.dtype) for w in model.get_weights()])


def _saved(path) -> float:
    probe = _model()
    probe.load_weights(path)
    values = {float(v) for w in probe.get_weights() for v in np.ravel(w)}
    assert len(values) == 1
    return values.pop()


def test_the_file_holds_the_best_epoch_not_the_last_and_is_written_once(tmp_path):
    model = _model()
    path = str(tmp_path / "checkpoint.weights.h5")
    ckpt = AtomicSaveBestEpoch(kt.Objective("val_accuracy", "max"), path)
    ckpt.set_model(model)
    ckpt.on_train_begin()
    for epoch, (weight, score) in enumerate([(1.0, 0.5), (2.0, 0.7), (3.0, 0.9), (4.0, 0.6)]):
        _epoch(model, weight)
        ckpt.on_epoch_end(epoch, {"val_accuracy": score})
    assert ckpt.writes == 0  # three improving epochs, no file write yet
    ckpt.on_train_end()
    assert ckpt.writes == 1
    assert _saved(path) == 3.0  # the best epoch's weights
    assert all(np.all(w == 4.0) for w in model.get_weights())  # the model itself keeps training's last weights
    ckpt.on_train_end()  # nothing new: nothing written
    assert ckpt.writes == 1


def test_with_the_resume_state_the_file_always_matches_the_state_best(tmp_path):
    """A kill right after any state save resumes from `best`: the checkpoint must hold that epoch."""
    model = _model()
    path = str(tmp_path / "checkpoint.weights.h5")
    ckpt = AtomicSaveBestEpoch(kt.Objective("val_accuracy", "max"), path)
    state = EpochState(str(tmp_path / "trial"), every_seconds=0.0, before_save=ckpt.flush)
    for cb in (ckpt, state):
        cb.set_model(model)
    best_score, best_weight = float("-inf"), None
    for epoch, (weight, score) in enumerate([(1.0, 0.5), (2.0, 0.4), (3.0, 0.8), (4.0, 0.8), (5.0, 0.2)]):
        _epoch(model, weight)
        for cb in (ckpt, state):  # Keras calls callbacks in list order: checkpoint, then state
            cb.on_epoch_end(epoch, {"val_accuracy": score})
        if score > best_score:
            best_score, best_weight = score, weight
        assert state.best == best_score
        assert _saved(path) == best_weight
        assert _saved(tmp_path / "trial" / EpochState.WEIGHTS) == weight  # the state's own last-epoch weights
    assert best_weight == 3.0 and ckpt.writes == 2
