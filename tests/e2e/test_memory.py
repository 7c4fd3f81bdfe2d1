"""Memory over trials: traced graphs do not accumulate in a real search."""

import gc

import keras
import pytest
from tensorflow.python.framework.func_graph import FuncGraph

from autoorder.core.config import from_dict
from tests.fakes import registry
from tests.helpers import simple_dataset

pytestmark = [pytest.mark.slow, pytest.mark.memory]


def live_graphs() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, FuncGraph))


def test_traced_graphs_do_not_accumulate_over_trials(tmp_path, monkeypatch):
    from autoorder.model import tuner as tuner_mod
    from autoorder.run.search import run_search

    manifest = simple_dataset(tmp_path / "data", classes=("a", "b"), objects_per_class=4)
    cfg = from_dict(
        {
            "data": {"manifest": str(manifest), "image_size": 16},
            "space": {"backbones": "mini", "freeze": "all", "order_encodings": ["none", "onehot"], "head_depth": [0, 1]},
            "tuner": {"max_trials": 8, "epochs": 1, "patience": 0},
        },
        "c.yaml",
        tmp_path,
    )
    counts = []
    original = tuner_mod.AutoOrderTuner.build_for_trial

    def build(self, hp):  # count right after the previous trial's state was released
        model = original(self, hp)
        counts.append(live_graphs())
        return model

    monkeypatch.setattr(tuner_mod.AutoOrderTuner, "build_for_trial", build)
    keras.backend.clear_session()
    res = run_search(cfg, tmp_path / "run", registry=registry())
    assert sum(t.status == "COMPLETED" for t in res.trials) == 8
    assert len(counts) >= 8
    # Each trial traces a train and a test step (plus optimizer branches): with the leak the
    # count grew by a dozen graphs per trial; without it, it stays where it was at trial 2.
    assert max(counts[2:]) <= counts[1] + 2, counts

