"""What runs inside a trial's fit: checkpoints that survive a kill, time limits, guards.

- `EpochState`: weights, optimizer state and progress of a running trial, after each epoch, so
  a killed search resumes an interrupted trial at its last finished epoch.
- `AtomicSaveBestEpoch`: Keras Tuner's best-epoch checkpoint, held in memory, written atomically
  when training ends or the resume state is saved.
- `TimeLimit`: stops at the first batch past a deadline (trial timeout, search budget).
- `LeaseGuard`: stops a distributed worker's trial once its lease is lost.
- `NanGuard`: a NaN loss fails the trial with a reason instead of ranking garbage.
- `BestWeights`: keeps and restores the weights of the best validation epoch (retraining).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Callable

import keras
import keras_tuner as kt
import numpy as np

from autoorder.compat.keras_tuner import BestEpochCheckpoint
from autoorder.core import faults
from autoorder.core.fileio import write_json
from autoorder.model.saving import save_weights_atomic  # the one write path: atomic, free space checked first
from autoorder.model.weights import set_weights

OBJECTIVE = "val_accuracy"  # the default objective (tuner.objective)


class AtomicSaveBestEpoch(BestEpochCheckpoint):
    """Keras Tuner's best-epoch checkpoint, written atomically, and only when it must be.

    An improving epoch's weights are copied in memory (a few milliseconds); the file (an HDF5
    write of ~50 ms even for a small head) is written by `flush`: whenever the trial's resume
    state is saved (`EpochState(before_save=flush)`), so the file on disk always holds the
    weights of the best score that a resumed trial starts from, and when training ends, unless
    `needed(self)` says no (it reads `best_value`, `best_accuracy`, `best_epoch`): only the best
    trial's weights are ever read back (export), so a trial that cannot rank first need not write
    them.
    """

    def __init__(self, objective: Any, filepath: str, needed: Callable[["AtomicSaveBestEpoch"], bool] | None = None):
        super().__init__(objective, filepath)
        self._pending: list | None = None
        self.needed = needed
        self.best_accuracy: float | None = None  # val_accuracy at the best epoch
        self.best_epoch: int | None = None  # the first epoch with the best score
        self.writes = 0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        before = self.best_value
        super().on_epoch_end(epoch, logs)
        if self.best_value != before:
            value = (logs or {}).get("val_accuracy")
            self.best_accuracy = float(value) if value is not None else None
            self.best_epoch = epoch

    def write(self, model: keras.Model, path: str) -> None:
        self._pending = model.get_weights()

    def flush(self) -> None:
        """Write the best epoch's weights held in memory, if any, to the checkpoint file."""
        if self._pending is None or self.model is None:
            return
        current = self.model.get_weights()
        set_weights(self.model, self._pending)
        try:
            save_weights_atomic(self.model, self.filepath)
        finally:
            set_weights(self.model, current)
        self._pending = None
        self.writes += 1

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._pending is not None and self.needed is not None and not self.needed(self):
            self._pending = None
            return
        self.flush()


class EpochState(keras.callbacks.Callback):
    """Saves weights, optimizer state and progress of a running trial after every epoch, and
    keeps the trial's objective and val_accuracy per epoch (written to HISTORY when it ends)."""

    WEIGHTS = "last_epoch.weights.h5"
    STATE = "last_epoch.json"
    HISTORY = "history.json"

    def __init__(self, trial_dir: str, every_seconds: float = 0.0, objective: str = OBJECTIVE,
                 before_save: Callable[[], None] | None = None):
        super().__init__()
        self.dir = Path(trial_dir)
        self.before_save = before_save  # e.g. the best-epoch checkpoint's flush: file and state agree
        self.objective = objective
        self.best = float("-inf")
        self.history: list[float | None] = []  # the objective per epoch
        self.accuracy: list[float | None] = []  # val_accuracy per epoch
        # Saving costs ~50 ms; for sub-second epochs (heads on cached features) rerunning a few
        # epochs after a crash is cheaper than saving after each one.
        self.every_seconds = every_seconds
        self._last_save = time.monotonic()

    def load(self, model: keras.Model) -> tuple[int, float] | None:
        """(next epoch, best score so far) of an interrupted run, weights restored; else None."""
        state_path, weights = self.dir / self.STATE, self.dir / self.WEIGHTS
        if not (state_path.exists() and weights.exists()):
            return None
        try:
            state = json.loads(state_path.read_text())
            # Build the optimizer's slots first so its saved state is restored too.
            model.optimizer.build(model.trainable_variables)
            model.load_weights(weights)
        except Exception:  # noqa: BLE001 - a torn checkpoint means: run the trial from its start
            return None
        self.best = float(state["best"])
        self.history = list(state.get("history", []))[: int(state["epoch"])]
        self.accuracy = list(state.get("accuracy", self.history))[: int(state["epoch"])]
        return int(state["epoch"]), self.best

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        score = logs.get(self.objective)
        finite = score is not None and score == score
        if finite:
            self.best = max(self.best, float(score))
        self.history.append(float(score) if finite else None)
        acc = logs.get(OBJECTIVE)
        self.accuracy.append(float(acc) if acc is not None and acc == acc else None)
        if time.monotonic() - self._last_save < self.every_seconds:
            return
        self._last_save = time.monotonic()
        if self.before_save is not None:
            self.before_save()
        self.dir.mkdir(parents=True, exist_ok=True)
        save_weights_atomic(self.model, self.dir / self.WEIGHTS)
        write_json(self.dir / self.STATE, {"epoch": epoch + 1, "best": self.best, "history": self.history, "accuracy": self.accuracy})
        faults.reached("epoch")

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        faults.reached("batch")

    def clear(self) -> None:
        """The trial is over: keep its history, drop what only a resume needed."""
        self.dir.mkdir(parents=True, exist_ok=True)
        write_json(self.dir / self.HISTORY, {"objective": self.objective, "score": self.history, "val_accuracy": self.accuracy})
        for name in (self.WEIGHTS, self.STATE):
            (self.dir / name).unlink(missing_ok=True)


def read_history(trial_dir: str | Path) -> tuple[list[float | None], list[float | None]]:
    """A finished trial's (objective, val_accuracy) per epoch; empty lists when not recorded."""
    path = Path(trial_dir) / EpochState.HISTORY
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return [], []

    def values(v: Any) -> list[float | None]:
        ok = isinstance(v, list)
        return [float(x) if isinstance(x, (int, float)) and x == x else None for x in v] if ok else []

    if isinstance(data, list):  # written before the objective could be chosen: val_accuracy
        return values(data), values(data)
    if isinstance(data, dict):
        return values(data.get("score")), values(data.get("val_accuracy"))
    return [], []


class EpochProgress(keras.callbacks.Callback):
    """One line per epoch of a training: epoch, loss, val_accuracy, the best so far, seconds."""

    def __init__(self, log: Any, label: str, epochs: int, objective: str = OBJECTIVE):
        super().__init__()
        self.log, self.label, self.epochs, self.objective = log, label, epochs, objective
        self.best = float("-inf")
        self._t0 = time.monotonic()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._t0 = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        score = logs.get(self.objective)
        if score is not None and score == score:
            self.best = max(self.best, float(score))
        bits = [f"{self.label} epoch {epoch + 1}/{self.epochs}"]
        if logs.get("loss") is not None:
            bits.append(f"loss {float(logs['loss']):.4f}")
        if score is not None:
            bits.append(f"{self.objective} {float(score):.4f}  best {self.best:.4f}")
        bits.append(f"{time.monotonic() - self._t0:.1f}s")
        self.log("  ".join(bits))


class TimeLimit(keras.callbacks.Callback):
    """Stops training at the first batch past a deadline (trial timeout or search budget)."""

    def __init__(self, deadline: float):
        super().__init__()
        self.deadline = deadline

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if time.monotonic() >= self.deadline:
            self.model.stop_training = True


class LeaseGuard(keras.callbacks.Callback):
    """Stops a worker's trial at the next batch once its lease is lost or the chief is gone."""

    def __init__(self, heartbeat: Any):
        super().__init__()
        self.heartbeat = heartbeat

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.heartbeat.check()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.heartbeat.check()


class NanGuard(keras.callbacks.Callback):
    """A NaN loss fails the trial with a reason instead of ranking garbage."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise kt.errors.FailedTrialError(f"loss became {loss} at epoch {epoch + 1} (diverged)")


class BestWeights(keras.callbacks.Callback):
    """Keep the weights of the best epoch by `objective`, restore them when training ends."""

    def __init__(self, objective: str = OBJECTIVE) -> None:
        super().__init__()
        self.objective = objective
        self.best, self.weights = -np.inf, None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        v = (logs or {}).get(self.objective)
        if v is not None and v > self.best:
            self.best, self.weights = v, self.model.get_weights()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.weights is not None:
            set_weights(self.model, self.weights)
