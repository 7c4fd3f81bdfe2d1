"""The search space: freeze values per backbone, and the training recipe every trial gets."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from autoorder.core.config import from_dict
from autoorder.core.errors import ConfigError
from autoorder.data.dataset import load_dataset
from autoorder.model.features import BackboneBank
from autoorder.model.space import LR_FLOOR, SearchSpace, freeze_values
from autoorder.model.tuner import trial_seed
from tests.fakes import registry
from tests.helpers import simple_dataset


def _cfg(tmp_path, **space_tuner):
    space = {k: v for k, v in space_tuner.items() if k != "tuner"}
    return from_dict({"data": {"manifest": "m.csv", "image_size": 16}, "space": {"backbones": "mini", **space},
                      "tuner": space_tuner.get("tuner", {})}, "c.yaml", tmp_path)


def test_last_is_each_backbones_deepest_cut(tmp_path):
    reg = registry()
    assert freeze_values(_cfg(tmp_path, freeze=["all", "last"]), reg) == {"mini": ["all", "p2"]}
    assert freeze_values(_cfg(tmp_path, freeze=["last", "p2", "none"]), reg) == {"mini": ["p2", "none"]}  # once
    with pytest.raises(ConfigError, match=r"'space.freeze' key .* names 'p9'.*Expected none, all, last, or one of"):
        freeze_values(_cfg(tmp_path, freeze=["p9"]), reg)


def _space(tmp_path, **tuner) -> SearchSpace:
    manifest = simple_dataset(tmp_path / "data", classes=("a", "b"), objects_per_class=8)
    cfg = from_dict({"data": {"manifest": str(manifest), "image_size": 16}, "space": {"backbones": "mini", "batch_size": 4},
                     "tuner": tuner}, "c.yaml", tmp_path)
    reg = registry()
    return SearchSpace(cfg, reg, load_dataset(cfg), BackboneBank(reg, None, 0), None)


def test_recipe_warms_up_decays_and_clips(tmp_path):
    space = _space(tmp_path, epochs=10, warmup_epochs=2)
    steps = space.steps_per_epoch()
    schedule = space.schedule(0.01, 10)
    lr = lambda step: float(keras.ops.convert_to_numpy(schedule(step)))  # noqa: E731
    assert lr(0) == pytest.approx(0.01 * LR_FLOOR)
    assert lr(2 * steps) == pytest.approx(0.01, rel=1e-5)  # the peak, after two epochs of warmup
    assert lr(6 * steps) < lr(4 * steps) < lr(2 * steps)  # cosine decay
    assert lr(10 * steps) == pytest.approx(0.01 * LR_FLOOR, rel=1e-4)
    assert space.optimizer(0.01, 10).global_clipnorm == 1.0
    constant = _space(tmp_path / "c", schedule="constant", clip_norm=None).optimizer(0.01, 10)
    assert float(keras.ops.convert_to_numpy(constant.learning_rate)) == pytest.approx(0.01) and constant.global_clipnorm is None


def test_trial_seeds_are_stable_and_distinct():
    assert trial_seed(0, "3") == trial_seed(0, "3")
    seeds = {trial_seed(s, str(t)) for s in range(3) for t in range(20)}
    assert len(seeds) == 60 and all(0 <= s < 2**31 for s in seeds)


def test_batch_order_follows_the_seed_not_the_trials_before(tmp_path):
    space = _space(tmp_path)
    x = space.data.images

    def first_epoch(seed):
        return np.concatenate([np.asarray(b) for b in space.dataset(x, "train", shuffle=True, seed=seed).map(lambda a, y: y)])

    a = first_epoch(1)
    first_epoch(2)  # another trial in between shares the split's tensors
    assert np.array_equal(first_epoch(1), a)
    assert not np.array_equal(first_epoch(2), a) or len(a) < 4


def test_balanced_class_weights_are_inverse_frequencies(tmp_path):
    from autoorder.model.space import TrialPlan

    space = _space(tmp_path)
    y = space.data.y[space.data.indices("train")]
    weights = space.class_weights(TrialPlan("mini", "all", 0, 1, 0.0, "none", 0.01, "balanced"))
    counts = np.bincount(y)
    assert weights == pytest.approx({c: len(y) / (len(counts) * n) for c, n in enumerate(counts)})
    assert space.class_weights(TrialPlan("mini", "all", 0, 1, 0.0, "none", 0.01, "none")) is None


def _traced_fit(space: SearchSpace, path: str, class_weight: str, epochs: int = 3) -> tuple[list, int, dict]:
    """Train one head-only trial (seeded) by `path`, counting the traces of Keras' train step.

    path: "space" (what a trial does), "keras" (what a trial does where the lean loop does not
    apply: Keras' fit, its variables built first), "plain" (Keras' fit alone)."""
    import keras_tuner as kt

    from autoorder.core import config as C
    from autoorder.model import loop

    hp = kt.HyperParameters()
    space.declare_hyperparameters(hp)
    hp.values[C.HP_FREEZE if C.HP_FREEZE in hp.values else "mini/" + C.HP_FREEZE] = "all"
    hp.values[C.HP_CLASS_WEIGHT] = class_weight
    keras.backend.clear_session()
    keras.utils.set_random_seed(3)
    space.trial_seed = 3
    model = space.build(hp)
    assert loop.supports(model)
    traces = []
    step = model.train_step

    def counted(data):
        traces.append(1)
        return step(data)

    model.train_step = counted
    if path == "keras":
        loop_supports, loop.supports = loop.supports, lambda m: False
    if path == "plain":  # Keras' own path: its variables are created inside the first trace
        space._fit = lambda m, *a, **k: keras.Model.fit(m, a[0], validation_data=a[1], epochs=a[2], verbose=0, shuffle=False,
                                                         class_weight=a[5] if len(a) > 5 else None)
    try:
        history = space.fit(hp, model, epochs=epochs)
    finally:
        if path == "keras":
            loop.supports = loop_supports
    return model.get_weights(), len(traces), history.history


@pytest.mark.parametrize("class_weight", ["none", "balanced"])
def test_without_the_lean_loop_a_trial_traces_keras_step_once_and_trains_as_keras_alone_does(tmp_path, class_weight):
    weights, traces, history = _traced_fit(_space(tmp_path / "a", epochs=3), "keras", class_weight)
    plain_weights, plain_traces, plain_history = _traced_fit(_space(tmp_path / "b", epochs=3), "plain", class_weight)
    assert plain_traces == 2  # Keras alone: once creating the optimizer's and metrics' variables, once more
    assert traces == 1
    assert all(np.array_equal(a, b) for a, b in zip(weights, plain_weights))  # bit-identical training
    assert history == plain_history


@pytest.mark.parametrize("class_weight", ["none", "balanced"])
def test_a_trial_trains_with_the_lean_loop_as_keras_fit_does_up_to_rounding(tmp_path, class_weight):
    # One epoch: Keras' fit does not draw later epochs' batch orders in the dataset's order of iterations.
    weights, traces, history = _traced_fit(_space(tmp_path / "a", epochs=1), "space", class_weight, epochs=1)
    plain_weights, _, plain_history = _traced_fit(_space(tmp_path / "b", epochs=1), "plain", class_weight, epochs=1)
    assert traces == 0  # Keras' train step is not used at all
    for a, b in zip(weights, plain_weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert set(history) == set(plain_history)
    for key in history:
        np.testing.assert_allclose(history[key], plain_history[key], rtol=1e-4, atol=1e-5, err_msg=key)


def test_float32_features_in_memory_are_shared_by_trials_and_follow_the_seed(tmp_path):
    from autoorder.model.features import FeatureCache
    from autoorder.model.space import TrialPlan

    space = _space(tmp_path)
    space.cache = FeatureCache(memory_mb=64)
    x = space.inputs_for(TrialPlan("mini", "all", 0, 0, 0.0, "none", 0.001))
    assert x.tensors is not None and x.tensors["train"].dtype.name == "float32"

    def first_epoch(seed):
        return np.concatenate([np.asarray(y) for _, y in space.dataset(x, "train", shuffle=True, seed=seed)])

    a = first_epoch(1)
    space.dataset(x, "val", shuffle=False, seed=0)
    shared = dict(space._datasets)  # noqa: SLF001 - what is built once
    assert len(shared) == 2  # train and val of this FeatureSet, both kept
    b = first_epoch(2)  # another trial in between
    assert np.array_equal(first_epoch(1), a)
    assert {k: v[1] for k, v in space._datasets.items()} == {k: v[1] for k, v in shared.items()}  # noqa: SLF001
    assert not np.array_equal(b, a) or len(a) < 4
