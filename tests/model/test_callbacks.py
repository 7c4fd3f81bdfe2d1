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


def test_a_trial_that_cannot_rank_first_writes_no_file_at_the_end_but_still_with_the_resume_state(tmp_path):
    asked = []

    def run(needed, state_every=None):
        model = _model()
        path = tmp_path / f"c{len(asked)}.weights.h5"
        ckpt = AtomicSaveBestEpoch(kt.Objective("val_balanced_accuracy", "max"), str(path),
                                   needed=lambda c: asked.append((c.best_value, c.best_accuracy, c.best_epoch)) or needed)
        cbs = [ckpt]
        if state_every is not None:
            cbs.append(EpochState(str(tmp_path / f"t{len(asked)}"), every_seconds=state_every, before_save=ckpt.flush))
        for cb in cbs:
            cb.set_model(model)
        for epoch, (weight, score, acc) in enumerate([(1.0, 0.5, 0.6), (2.0, 0.7, 0.65), (3.0, 0.6, 0.9)]):
            _epoch(model, weight)
            for cb in cbs:
                cb.on_epoch_end(epoch, {"val_accuracy": acc, "val_balanced_accuracy": score})
        ckpt.on_train_end()
        return ckpt, path

    ckpt, path = run(needed=False)
    assert asked[-1] == (0.7, 0.65, 1)  # the best score, val_accuracy at that epoch, the epoch
    assert ckpt.writes == 0 and not path.exists()
    ckpt, path = run(needed=True)
    assert ckpt.writes == 1 and path.exists()
    ckpt, path = run(needed=False, state_every=0.0)  # the resume state's saves write it whatever comes after
    assert ckpt.writes >= 1 and _saved(path) == 2.0


def test_which_trials_write_their_checkpoint_follows_the_ranking():
    """Healthy trials rank first, then collapsed ones, each by score, then the earlier best epoch,
    then the lower trial id (schema.results.ranked)."""
    from types import SimpleNamespace

    from autoorder.model.tuner import AutoOrderTuner, _rank_key

    t = SimpleNamespace(collapse_below=0.3, _best={"healthy": None, "collapsed": None})
    t._healthy = lambda acc: AutoOrderTuner._healthy(t, acc)

    def needed(score, acc, epoch=2, trial="05"):
        ckpt = SimpleNamespace(best_value=score, best_accuracy=acc, best_epoch=epoch)
        return AutoOrderTuner.checkpoint_needed(t, ckpt, trial)

    assert needed(0.1, 0.2) and needed(0.5, 0.5)  # nothing finished yet
    t._best["collapsed"] = _rank_key(0.25, 2, "03")
    assert not needed(0.24, 0.2) and not needed(0.25, 0.2)  # equal score and epoch: the lower id ranks first
    assert needed(0.25, 0.2, epoch=1)  # the earlier best epoch ranks first
    assert needed(0.25, 0.2, trial="01")  # a retried trial with a lower id ranks first
    assert needed(0.1, 0.5)  # a healthy trial outranks every collapsed one
    t._best["healthy"] = _rank_key(0.6, 2, "04")
    assert not needed(0.9, 0.2)  # collapsed beside a healthy finished trial: never first
    assert needed(0.8, 0.7) and not needed(0.59, 0.7) and not needed(0.6, 0.7)
    assert needed(0.1, None) and needed(0.1, 0.7, epoch=None) and needed(0.1, 0.7, trial="x")  # unknown: written
    t.collapse_below = None  # no majority baseline: nothing collapses
    assert not needed(0.5, 0.1) and needed(0.7, 0.1)
