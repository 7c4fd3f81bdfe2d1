"""The Keras Tuner side: a stock oracle chosen by name, and a thin `kt.Tuner` around it.

autoorder writes no search algorithm: `random`, `bayesian` and `hyperband` are Keras Tuner's
own oracles. The tuner subclass only (1) declares the space without building any backbone,
(2) honours Hyperband's epoch budget and parent weights, (3) times trials and reports each
finished one through a callback, since library code does not print, (4) as a worker of a
distributed search, talks to the chief through `autoorder.distributed.ChiefClient` and keeps
its trial's lease alive, (5) builds and trains inside a `tf.distribute` strategy when given one.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import keras
import keras_tuner as kt
from keras_tuner.src.engine import tuner_utils
from keras_tuner.src.engine.tuner import maybe_distribute
from keras_tuner.src import config as kt_config
from keras_tuner.src import utils as kt_utils
from keras_tuner.src.engine import conditions as kt_conditions

from autoorder import faults, session
from autoorder.config import Config

OBJECTIVE = "val_accuracy"
GC_EVERY_TRIALS = 4


def _atomic_save_json(path: str, obj: Any) -> str:
    """Keras Tuner's state writer, made atomic: a kill mid-write leaves the previous file."""
    from autoorder.fileio import write_text

    text = json.dumps(obj)
    write_text(path, text)
    return text


def _checked_load_json(path: str) -> Any:
    """Keras Tuner's state reader, with a message that names a torn or corrupt file."""
    from autoorder.errors import RunError

    try:
        with open(path, encoding="utf-8") as f:
            return json.loads(f.read())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunError(
            f"Search state file {path!r} is corrupt ({e}). Delete that file's trial folder to rerun the trial, "
            "or rerun the search with --overwrite."
        ) from None


# Every Keras Tuner state file (oracle.json, tuner0.json, trial.json) goes through these two.
kt_utils.save_json = _atomic_save_json
kt_utils.load_json = _checked_load_json


def _parent_to_proto(self: Any) -> Any:
    """Keras Tuner 1.4.8's `Parent.to_proto`, without its stray `print` (every gRPC call of a
    distributed search would print a condition value)."""
    from keras_tuner.src import protos

    first = self.values[0]
    kind = (
        "string_value" if isinstance(first, str)
        else "boolean_value" if isinstance(first, bool)
        else "int_value" if isinstance(first, int)
        else "float_value"
    )
    proto = protos.get_proto()
    values = [proto.Value(**{kind: v}) for v in self.values]
    return proto.Condition(parent=proto.Condition.Parent(name=self.name, values=values))


kt_conditions.Parent.to_proto = _parent_to_proto


def make_oracle(cfg: Config) -> kt.Oracle:
    t = cfg.tuner
    objective = kt.Objective(OBJECTIVE, direction="max")
    # A trial that fails is recorded with its reason; the search goes on.
    common = dict(objective=objective, seed=t.seed, max_consecutive_failed_trials=max(3, t.max_trials))
    if t.algorithm == "random":
        return kt.oracles.RandomSearchOracle(max_trials=t.max_trials, **common)
    if t.algorithm == "bayesian":
        return kt.oracles.BayesianOptimizationOracle(
            max_trials=t.max_trials, num_initial_points=min(3, t.max_trials), **common
        )
    oracle = kt.oracles.HyperbandOracle(max_epochs=max(t.epochs, 2), factor=3, **common)
    oracle.max_trials = t.max_trials  # a hard cap on top of the brackets
    return oracle


class AutoOrderTuner(kt.Tuner):
    """Runs trials of a `SearchSpace`; reports each finished trial to `on_trial`."""

    def __init__(
        self,
        oracle: kt.Oracle,
        hypermodel: Any,
        on_trial: Callable[[Any, float], None] | None = None,
        deadline: float | None = None,
        trial_timeout: float | None = None,
        log: Callable[[str], None] | None = None,
        link: Any = None,
        **kwargs: Any,
    ):
        # Keras Tuner prints the traceback of every failed trial in debug mode; the reason is
        # kept in the trial instead (results.json, trials.csv).
        kt_config.DEBUG = False
        self.link = link  # set first: Keras Tuner asks `_is_worker()` while it initialises
        super().__init__(oracle=oracle, hypermodel=hypermodel, **kwargs)
        if link is not None:
            self.oracle = link.bind(self.oracle)
        self._beat: Any = None
        self.trials_run = 0
        self.on_trial = on_trial
        self.deadline = deadline  # time.monotonic() after which no new trial starts
        self.trial_timeout = trial_timeout
        self.log = log
        self.stop_reason: str | None = None
        self._builds = 0
        self._started: dict[str, float] = {}

    def _get_tuner_fname(self) -> str:
        if self.link is not None:  # Keras Tuner sets a worker's id only after it looked for its file
            return os.path.join(str(self.project_dir), f"{self.link.worker_id}.json")
        return super()._get_tuner_fname()

    def _is_worker(self) -> bool:
        # A worker never writes the oracle's state: the chief owns it.
        return self.link is not None or super()._is_worker()

    def pre_create_trial(self) -> None:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            # The oracle stops handing out trials once it holds max_trials of them.
            self.stop_reason = "time_budget"
            self.oracle.max_trials = len(self.oracle.trials)

    def _try_build(self, hp: Any) -> Any:
        # Keras Tuner's own version runs a full gc.collect() twice before every trial: 0.3-0.6 s,
        # a quarter of a head-only trial. Dead models form reference cycles that only a full
        # collection frees, so one every few trials keeps memory flat at a fraction of the cost
        # (benchmarks/perf measures resident memory over 30 trials).
        # `session.release` also drops the gradient functions TensorFlow keeps for every traced
        # train step, which otherwise pin each dead trial's graph in memory.
        self._builds += 1
        session.release(collect=self._builds % GC_EVERY_TRIALS == 0)
        return self._build_hypermodel(hp)

    def _populate_initial_space(self) -> None:
        hp = self.oracle.get_space()
        self.hypermodel.declare_hyperparameters(hp)
        self.oracle.update_space(hp)

    def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
        """Build, restore an interrupted run of this trial if any, train, report the best score.

        After every epoch the trial's weights, optimizer state and progress are saved in its
        folder, so a killed search continues an interrupted trial from its last finished
        epoch instead of starting it over.
        """
        hp = trial.hyperparameters
        epochs = kwargs.pop("epochs", self.hypermodel.cfg.tuner.epochs)
        initial_epoch = kwargs.pop("initial_epoch", 0)
        if "tuner/epochs" in hp.values:  # Hyperband's budget for this round
            epochs = hp.values["tuner/epochs"]
            initial_epoch = hp.values["tuner/initial_epoch"]
        model = self._try_build(hp)  # inside `distribution_strategy.scope()` when there is one
        state = EpochState(self.get_trial_dir(trial.trial_id), self.hypermodel.cfg.tuner.checkpoint_seconds)
        best = float("-inf")
        # Optimizer slots (resume) and a two-stage head model are created under the same strategy.
        with maybe_distribute(self.distribution_strategy):
            resumed = state.load(model)
        if resumed is not None:
            initial_epoch, best = resumed
            if self.log:
                self.log(f"trial {trial.trial_id} resumes at epoch {initial_epoch + 1} (best so far {best:.4f})")
        checkpoint = AtomicSaveBestEpoch(self.oracle.objective, self._get_checkpoint_fname(trial.trial_id))
        checkpoint.best_value = best
        callbacks = [tuner_utils.TunerCallback(self, trial), checkpoint, state]
        limits = [t for t in (self.deadline, time.monotonic() + self.trial_timeout if self.trial_timeout else None) if t]
        if limits:
            callbacks.append(TimeLimit(min(limits)))
        if self._beat is not None:
            callbacks.append(LeaseGuard(self._beat))
        history = None
        if initial_epoch < epochs:
            with maybe_distribute(self.distribution_strategy):
                history = self.hypermodel.fit(hp, model, epochs=epochs, initial_epoch=initial_epoch, callbacks=callbacks)
            scores = [v for v in history.history.get(OBJECTIVE, []) if v == v]
            best = max([best, *scores])
        if self._beat is not None:
            self._beat.check()  # a trial handed to another worker keeps its resume state for it
        state.clear()
        if best == float("-inf"):
            raise kt.errors.FailedTrialError("the trial produced no val_accuracy")
        # A trial run in one go returns its history (the oracle then records the best epoch's
        # number too); a resumed one returns the best score over both runs, since the history
        # holds only the epochs after the restart.
        if resumed is None and history is not None and history.history.get(OBJECTIVE):
            return history
        return {OBJECTIVE: best}

    def on_trial_begin(self, trial: Any) -> None:
        self._started[trial.trial_id] = time.monotonic()
        if self.link is not None:
            self._beat = self.link.heartbeat(trial.trial_id)
        super().on_trial_begin(trial)

    def on_trial_end(self, trial: Any) -> None:
        lost = False
        if self._beat is not None:
            self._beat.stop()
            lost = self._beat.lost
            if lost and self.log:
                self.log(f"trial {trial.trial_id} went to another worker (this one was silent for over the lease); dropped here")
            self._beat = None
        self.trials_run += not lost
        super().on_trial_end(trial)
        seconds = time.monotonic() - self._started.pop(trial.trial_id, time.monotonic())
        if self.on_trial is not None:
            self.on_trial(self.oracle.get_trial(trial.trial_id), seconds)
        faults.reached("trial")


class LeaseGuard(keras.callbacks.Callback):
    """Stops a worker's trial at the next batch once its lease is lost or the chief is gone."""

    def __init__(self, heartbeat: Any):
        super().__init__()
        self.heartbeat = heartbeat

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.heartbeat.check()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.heartbeat.check()


def make_strategy(cfg: Config) -> Any:
    """`tuner.distribution`: None, or a MirroredStrategy over every visible GPU (CPU without one)."""
    if cfg.tuner.distribution != "mirrored":
        return None
    import tensorflow as tf

    return tf.distribute.MirroredStrategy()


class TimeLimit(keras.callbacks.Callback):
    """Stops training at the first batch past a deadline (trial timeout or search budget)."""

    def __init__(self, deadline: float):
        super().__init__()
        self.deadline = deadline

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if time.monotonic() >= self.deadline:
            self.model.stop_training = True


def save_weights_atomic(model: keras.Model, path: str | Path) -> None:
    """`model.save_weights`, but a kill mid-write leaves the previous file whole."""
    path = Path(path)
    staging = path.with_name(f".{path.stem}.{os.getpid()}.tmp.weights.h5")
    model.save_weights(staging)
    os.replace(staging, path)


class AtomicSaveBestEpoch(tuner_utils.SaveBestEpoch):
    """Keras Tuner's best-epoch checkpoint, written atomically."""

    def _save_model(self) -> None:
        save_weights_atomic(self.model, self.filepath)


class EpochState(keras.callbacks.Callback):
    """Saves weights, optimizer state and progress of a running trial after every epoch."""

    WEIGHTS = "last_epoch.weights.h5"
    STATE = "last_epoch.json"

    def __init__(self, trial_dir: str, every_seconds: float = 0.0):
        super().__init__()
        self.dir = Path(trial_dir)
        self.best = float("-inf")
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
        return int(state["epoch"]), self.best

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        from autoorder.fileio import write_json

        score = (logs or {}).get(OBJECTIVE)
        if score is not None and score == score:
            self.best = max(self.best, float(score))
        if time.monotonic() - self._last_save < self.every_seconds:
            return
        self._last_save = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        save_weights_atomic(self.model, self.dir / self.WEIGHTS)
        write_json(self.dir / self.STATE, {"epoch": epoch + 1, "best": self.best})
        faults.reached("epoch")

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        faults.reached("batch")

    def clear(self) -> None:
        for name in (self.WEIGHTS, self.STATE):
            (self.dir / name).unlink(missing_ok=True)
