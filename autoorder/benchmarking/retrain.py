"""Retraining a search's best configuration from scratch with another seed, then testing it."""

from __future__ import annotations

from typing import Any, Callable

import keras
import keras_tuner as kt
import numpy as np

from autoorder.core import config as C
from autoorder.model import session
from autoorder.model.callbacks import BestWeights, EpochProgress
from autoorder.model.features import BackboneBank, FeatureCache
from autoorder.model.space import SearchSpace


def retrain(
    cfg: C.Config, registry: Any, data: Any, hp_values: dict, seed: int, variants: dict[str, np.ndarray],
    epoch_log: Callable[[str], None] | None = None, label: str = "retraining",
) -> dict:
    """Train one configuration from scratch with `seed`; its test probabilities for each set of test orders.

    Args:
        variants: name -> the orders to feed with the test photos (the true ones, or a control's).
        epoch_log: where a line per epoch goes (`label epoch e/E  loss ...`); None: no such lines.

    Returns:
        `probs_<name>` per variant, `val_accuracy` per epoch, `best_val_accuracy`, `best_epoch` (1-based).
    """
    session.release()
    bank = BackboneBank(registry, cfg.weights_value(), seed)
    cache = FeatureCache(memory_mb=cfg.cache.memory_mb, dtype=cfg.cache.dtype) if cfg.cache.enabled else None
    space = SearchSpace(cfg, registry, data, bank, cache)
    hp = kt.HyperParameters()
    space.declare_hyperparameters(hp)
    for k, v in hp_values.items():
        if not k.startswith("tuner/"):
            hp.values[k] = v
    keras.utils.set_random_seed(seed)
    space.trial_seed = seed  # initialisation, dropout and batch order all follow the seed
    model = space.build(hp)
    callbacks: list[Any] = [BestWeights(cfg.tuner.objective)]
    if epoch_log is not None:
        callbacks.append(EpochProgress(epoch_log, label, cfg.tuner.epochs, cfg.tuner.objective))
    history = space.fit(hp, model, epochs=cfg.tuner.epochs, callbacks=callbacks)
    val = [float(v) for v in history.history.get("val_accuracy", [])]
    score = [float(v) for v in history.history.get(cfg.tuner.objective, [])]
    exported = space.export()
    images = data.images[data.indices("test")].astype(np.float32)
    out = {
        f"probs_{name}": exported.predict({"image": images, "order": np.asarray(orders)}, batch_size=64, verbose=0)
        for name, orders in variants.items()
    }
    best = int(np.argmax(score)) if score else -1  # the epoch whose weights BestWeights kept
    return {
        **out,
        "val_accuracy": np.asarray(val, dtype=np.float64),  # per epoch: the best one's weights are kept
        "best_val_accuracy": np.float64(val[best] if val else np.nan),
        "best_epoch": np.int64(best + 1),
    }
