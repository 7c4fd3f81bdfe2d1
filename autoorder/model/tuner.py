"""The Keras Tuner side: a stock oracle chosen by name, and a thin `kt.Tuner` around it.

autoorder writes no search algorithm: `random`, `bayesian` and `hyperband` are Keras Tuner's
own oracles. The tuner subclass only (1) declares the space without building any backbone,
(2) honours Hyperband's epoch budget and parent weights, (3) times trials and reports each
finished one through a callback, since library code does not print, (4) as a worker of a
distributed search, talks to the chief through a link (`autoorder.distributed.worker`) and
keeps its trial's lease alive, (5) builds and trains inside a `tf.distribute` strategy when
given one. Keras Tuner's private hooks are reached through `autoorder.compat.keras_tuner`.
"""

from __future__ import annotations

import gc
import hashlib
import os
import time
from typing import Any, Callable

import keras
import keras_tuner as kt

from autoorder.compat.keras_tuner import TunerCallback, TunerHooks, maybe_distribute
from autoorder.core import faults
from autoorder.core.config import Config
from autoorder.model import session
from autoorder.model.callbacks import AtomicSaveBestEpoch, EpochProgress, EpochState, LeaseGuard, TimeLimit

GC_EVERY_TRIALS = 4


def trial_seed(base: int, trial_id: str) -> int:
    """The seed of one trial, from tuner.seed and the trial's id: the same trial gets the same
    initialisation and batch order whatever ran before it (a resumed search, another worker)."""
    digest = hashlib.sha256(f"{base}/{trial_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % (2**31 - 1)


def _rank_key(score: float, epoch: int | None, trial_id: str) -> tuple | None:
    """Larger ranks first (`schema.results.ranked` among trials of one kind): the higher score,
    then the earlier best epoch, then the lower trial id; None where one of them is unknown."""
    if epoch is None or not trial_id.isdigit() or score != score or score in (float("inf"), float("-inf")):
        return None
    return (score, -epoch, -int(trial_id))


def make_oracle(cfg: Config) -> kt.Oracle:
    t = cfg.tuner
    objective = kt.Objective(t.objective, direction="max")
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


class AutoOrderTuner(TunerHooks):
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
        epoch_log: Callable[[str], None] | None = None,
        collapse_below: float | None = None,
        **kwargs: Any,
    ):
        self.link = link  # set first: Keras Tuner asks `is_worker()` while it initialises
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
        self.epoch_log = epoch_log  # one line per epoch of every trial, when set
        self._builds = 0
        self._seed = self.hypermodel.cfg.tuner.seed
        self._started: dict[str, float] = {}
        # A trial whose val_accuracy at its best epoch is at or below this ranks after the others
        # (collapsed); the best scores of the healthy and of the collapsed trials finished here
        # decide which trials must write their checkpoint (`checkpoint_needed`).
        self.collapse_below = collapse_below
        self._best: dict[str, tuple | None] = {"healthy": None, "collapsed": None}
        self._ended: tuple[AtomicSaveBestEpoch, str] | None = None

    def tuner_state_file(self) -> str | None:
        if self.link is not None:  # Keras Tuner sets a worker's id only after it looked for its file
            return os.path.join(str(self.project_dir), f"{self.link.worker_id}.json")
        return None

    def is_worker(self) -> bool:
        # A worker never writes the oracle's state: the chief owns it.
        return self.link is not None or super().is_worker()

    def pre_create_trial(self) -> None:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            # The oracle stops handing out trials once it holds max_trials of them.
            self.stop_reason = "time_budget"
            self.oracle.max_trials = len(self.oracle.trials)

    def build_for_trial(self, hp: Any) -> Any:
        # Keras Tuner's own version runs a full gc.collect() twice before every trial: 0.3-0.6 s,
        # a quarter of a head-only trial. Dead models form reference cycles that only a full
        # collection frees, so one every few trials keeps memory flat at a fraction of the cost
        # (benchmarks/perf measures resident memory over 30 trials).
        # `session.release` also drops the gradient functions TensorFlow keeps for every traced
        # train step, which otherwise pin each dead trial's graph in memory.
        self._builds += 1
        session.release(collect=self._builds % GC_EVERY_TRIALS == 0)
        keras.utils.set_random_seed(self._seed)  # after release: clearing Keras' state resets its generators
        return self.build_hypermodel(hp)

    def checkpoint_needed(self, checkpoint: AtomicSaveBestEpoch, trial_id: str) -> bool:
        """Whether a trial must write its best-epoch weights when it ends. Only the best trial's
        are read back (export), and the ranking (`schema.results.ranked`) puts healthy trials
        first, then collapsed ones, each by score, then the earlier best epoch, then the lower
        trial id: a trial ranked below a finished trial of its kind from this process, or
        collapsed beside a finished healthy one, never ranks first."""
        mine = _rank_key(checkpoint.best_value, checkpoint.best_epoch, trial_id)
        if checkpoint.best_accuracy is None or mine is None:
            return True
        if self._healthy(checkpoint.best_accuracy):
            top = self._best["healthy"]
        elif self._best["healthy"] is not None:
            return False
        else:
            top = self._best["collapsed"]
        return top is None or mine > top

    def _healthy(self, accuracy: float) -> bool:
        return self.collapse_below is None or accuracy > self.collapse_below

    def search(self, *args: Any, **kwargs: Any) -> Any:
        """Keras Tuner's search, with the objects alive before it frozen out of the garbage
        collector (`gc.freeze`): the full collection between trials then scans only what the
        trials made (~0.4 s less every GC_EVERY_TRIALS trials); they are unfrozen afterwards."""
        gc.collect()
        gc.freeze()
        try:
            return super().search(*args, **kwargs)
        finally:
            gc.unfreeze()

    def declare_space(self) -> None:
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
        self._seed = trial_seed(self.hypermodel.cfg.tuner.seed, trial.trial_id)
        self.hypermodel.trial_seed = self._seed
        model = self.build_for_trial(hp)  # inside `distribution_strategy.scope()` when there is one
        objective = self.hypermodel.cfg.tuner.objective
        checkpoint = AtomicSaveBestEpoch(self.oracle.objective, self.checkpoint_file(trial.trial_id),
                                         needed=lambda ckpt: self.checkpoint_needed(ckpt, trial.trial_id))
        state = EpochState(self.get_trial_dir(trial.trial_id), self.hypermodel.cfg.tuner.checkpoint_seconds, objective,
                           before_save=checkpoint.flush)
        best = float("-inf")
        # Optimizer slots (resume) and a two-stage head model are created under the same strategy.
        with maybe_distribute(self.distribution_strategy):
            resumed = state.load(model)
        if resumed is not None:
            initial_epoch, best = resumed
            if self.log:
                self.log(f"trial {trial.trial_id} resumes at epoch {initial_epoch + 1} (best so far {best:.4f})")
        checkpoint.best_value = best
        callbacks = [TunerCallback(self, trial), checkpoint, state]
        limits = [t for t in (self.deadline, time.monotonic() + self.trial_timeout if self.trial_timeout else None) if t]
        if limits:
            callbacks.append(TimeLimit(min(limits)))
        if self._beat is not None:
            callbacks.append(LeaseGuard(self._beat))
        if self.epoch_log is not None:
            callbacks.append(EpochProgress(self.epoch_log, f"trial {trial.trial_id}", epochs, objective))
        history = None
        if initial_epoch < epochs:
            with maybe_distribute(self.distribution_strategy):
                history = self.hypermodel.fit(hp, model, epochs=epochs, initial_epoch=initial_epoch, callbacks=callbacks)
            scores = [v for v in history.history.get(objective, []) if v == v]
            best = max([best, *scores])
        if self._beat is not None:
            self._beat.check()  # a trial handed to another worker keeps its resume state for it
        if resumed is None and history is not None:
            self._ended = (checkpoint, trial.trial_id)
        state.clear()
        if best == float("-inf"):
            raise kt.errors.FailedTrialError(f"the trial produced no {objective}")
        # A trial run in one go returns its history (the oracle then records the best epoch's
        # number too); a resumed one returns the best score over both runs, since the history
        # holds only the epochs after the restart.
        if resumed is None and history is not None and history.history.get(objective):
            return history
        return {objective: best}

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
        ended, self._ended = self._ended, None
        key = _rank_key(ended[0].best_value, ended[0].best_epoch, ended[1]) if ended is not None else None
        if key is not None and not lost and ended[0].best_accuracy is not None:
            kind = "healthy" if self._healthy(ended[0].best_accuracy) else "collapsed"
            if self._best[kind] is None or key > self._best[kind]:
                self._best[kind] = key
        super().on_trial_end(trial)
        seconds = time.monotonic() - self._started.pop(trial.trial_id, time.monotonic())
        if self.on_trial is not None:
            self.on_trial(self.oracle.get_trial(trial.trial_id), seconds)
        faults.reached("trial")


def make_strategy(cfg: Config) -> Any:
    """`tuner.distribution`: None, or a MirroredStrategy over every visible GPU (CPU without one)."""
    if cfg.tuner.distribution != "mirrored":
        return None
    import tensorflow as tf  # lazy: only a mirrored search needs tf.distribute

    return tf.distribute.MirroredStrategy()
