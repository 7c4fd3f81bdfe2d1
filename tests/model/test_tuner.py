"""Every algorithm is a stock Keras Tuner oracle chosen by name, and a search runs with each."""

from __future__ import annotations

import keras_tuner as kt
import pytest

from autoorder.core.config import from_dict
from autoorder.model.tuner import make_oracle
from autoorder.run.search import run_search
from tests.helpers import simple_dataset

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "algorithm, oracle_class",
    [("random", kt.oracles.RandomSearchOracle), ("bayesian", kt.oracles.BayesianOptimizationOracle), ("hyperband", kt.oracles.HyperbandOracle)],
)
def test_each_algorithm_runs_a_search(tmp_path, algorithm, oracle_class):
    manifest = simple_dataset(tmp_path / "data", classes=("a", "b"), objects_per_class=4)
    cfg = from_dict(
        {
            "data": {"manifest": str(manifest), "image_size": 16},
            "space": {"backbones": "tiny_cnn", "weights": None, "freeze": ["all", "block2_pool"], "order_encodings": ["none", "onehot"],
                      "head_depth": [0, 1]},
            "tuner": {"algorithm": algorithm, "max_trials": 3, "epochs": 2, "seed": 1},
            "plugins": {"paths": [], "entry_points": False},
        },
        "c.yaml",
        tmp_path,
    )
    assert type(make_oracle(cfg)) is oracle_class
    res = run_search(cfg, tmp_path / "run")
    assert 1 <= len(res.trials) <= 3
    assert res.best is not None and 0.0 <= res.best.test_accuracy <= 1.0
    if algorithm == "hyperband":
        assert any("tuner/epochs" in t.hyperparameters for t in res.trials)
