"""The Keras Tuner side: a stock oracle chosen by name, and a thin `kt.Tuner` around it.

autoorder writes no search algorithm: `random`, `bayesian` and `hyperband` are Keras Tuner's
own oracles. The tuner subclass only (1) declares the space without building any backbone,
(2) honours Hyperband's epoch budget and parent weights, (3) times trials and reports each
finished one through a callback, since library code does not print.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import keras_tuner as kt
from keras_tuner.src import config as kt_config

from autoorder.config import Config

OBJECTIVE = "val_accuracy"


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

    def __init__(self, oracle: kt.Oracle, hypermodel: Any, on_trial: Callable[[Any, float], None] | None = None, **kwargs: Any):
        # Keras Tuner prints the traceback of every failed trial in debug mode; the reason is
        # kept in the trial instead (results.json, trials.csv).
        kt_config.DEBUG = False
        super().__init__(oracle=oracle, hypermodel=hypermodel, **kwargs)
        self.on_trial = on_trial
        self._started: dict[str, float] = {}

    def _populate_initial_space(self) -> None:
        hp = self.oracle.get_space()
        self.hypermodel.declare_hyperparameters(hp)
        self.oracle.update_space(hp)

    def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
        hp = trial.hyperparameters
        if "tuner/epochs" in hp.values:
            kwargs["epochs"] = hp.values["tuner/epochs"]
            kwargs["initial_epoch"] = hp.values["tuner/initial_epoch"]
        return super().run_trial(trial, *args, **kwargs)

    def _build_hypermodel(self, hp: Any) -> Any:
        model = super()._build_hypermodel(hp)
        parent = hp.values.get("tuner/trial_id")
        if parent is not None:  # Hyperband continues a trial of the previous round
            model.load_weights(self._get_checkpoint_fname(parent))
        return model

    def on_trial_begin(self, trial: Any) -> None:
        self._started[trial.trial_id] = time.monotonic()
        super().on_trial_begin(trial)

    def on_trial_end(self, trial: Any) -> None:
        super().on_trial_end(trial)
        seconds = time.monotonic() - self._started.pop(trial.trial_id, time.monotonic())
        if self.on_trial is not None:
            self.on_trial(self.oracle.get_trial(trial.trial_id), seconds)
