"""Flat memory over trials: nothing of a finished trial's traced graphs stays alive.

Resident memory itself is measured by benchmarks/perf (a ratio-free figure on a noisy machine
does not belong in a unit test); here the cause of growth is checked directly, by counting the
traced graphs that are still alive after each trial.
"""

import gc
import weakref

import keras
import tensorflow as tf
from tensorflow.python.framework.func_graph import FuncGraph

from autoorder.model import session
from autoorder.core.config import from_dict

from helpers import simple_dataset
from test_cache import registry


def live_graphs() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, FuncGraph))


def test_release_frees_a_graph_held_by_a_custom_gradient():
    @tf.custom_gradient
    def scaled(x):
        return x * 2.0, lambda dy: dy * 2.0

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = scaled(x)
        return tape.gradient(y, x)

    assert float(step(tf.constant(1.0))) == 2.0
    graph = weakref.ref(step.get_concrete_function(tf.TensorSpec([], tf.float32)).graph)
    del step
    gc.collect()
    assert graph() is not None  # TensorFlow's gradient registry keeps the traced graph alive
    session.release()
    assert graph() is None
    assert session.drop_custom_gradients() == 0


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
