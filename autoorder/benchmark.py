"""Does the upload order help? Two searches, retrained over seeds, with intervals and controls.

Protocol:
1. Two searches with the same budget and split: image-only (encoding fixed to `none`) and
   order-aware (the configured order-aware encodings).
2. Each search's best configuration is retrained with each of N seeds (the backbone
   initialisation and the training both follow the seed) and tested on the held-out test
   split that no search saw. Seed s of one arm is paired with seed s of the other.
3. Gain = order-aware minus image-only test accuracy: mean, a 95% Student-t interval over the
   paired seeds, and a 95% paired bootstrap interval over test objects.
4. Controls: the order-aware model with orders shuffled across test images, an order-only
   model (the best any classifier can do from the order alone: the majority label of each
   order value in train), and the majority class.
5. Accuracy per order value and per object (an object's views combined by summing their
   log-probabilities), for both models.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from autoorder import config as C
from autoorder.errors import ConfigError, RunError
from autoorder.fileio import clear_folder, folder_lock, read_json, write_json
from autoorder.stats import excludes_zero, mean_ci, paired_bootstrap

ARMS = ("image_only", "order_aware")
BENCHMARK_JSON = "benchmark.json"
STATE = "benchmark.state.json"


def arm_configs(cfg: C.Config) -> dict[str, C.Config]:
    aware = tuple(e for e in cfg.space.order_encodings if e != C.ENCODING_NONE)
    if not aware:
        raise ConfigError(
            f"The 'space.order_encodings' key in {cfg.source} must name at least one order-aware encoding "
            f"for a benchmark. Got {list(cfg.space.order_encodings)} instead."
        )
    return {
        "image_only": dataclasses.replace(cfg, space=dataclasses.replace(cfg.space, order_encodings=(C.ENCODING_NONE,))),
        "order_aware": dataclasses.replace(cfg, space=dataclasses.replace(cfg.space, order_encodings=aware)),
    }


def _prepare(out: Path, overwrite: bool, resolved: dict, seeds: int) -> None:
    state = out / STATE
    if out.exists() and any(out.iterdir()):
        if not state.exists():
            raise RunError(
                f"--out {str(out)!r} is not empty and is not an autoorder benchmark; nothing was changed. "
                "Choose an empty or new folder."
            )
        if overwrite:
            clear_folder(out)  # not rmtree: the lock is held on the folder itself
        else:
            old = read_json(state, "benchmark state")
            if old.get("config") != resolved or old.get("seeds") != seeds:
                raise RunError(
                    f"Benchmark folder {str(out)!r} was started with a different config or --seeds; resuming is refused. "
                    "Rerun with --overwrite to start over, or use another --out."
                )
    out.mkdir(parents=True, exist_ok=True)
    write_json(state, {"config": resolved, "seeds": seeds})


class BestWeights:
    """Keras callback: keep the weights of the best val_accuracy epoch, restore them at the end."""

    def __new__(cls):  # built lazily so that importing this module needs no Keras
        import keras

        class _Best(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.best, self.weights = -np.inf, None

            def on_epoch_end(self, epoch, logs=None):
                v = (logs or {}).get("val_accuracy")
                if v is not None and v > self.best:
                    self.best, self.weights = v, self.model.get_weights()

            def on_train_end(self, logs=None):
                if self.weights is not None:
                    self.model.set_weights(self.weights)

        return _Best()


def retrain(cfg: C.Config, registry: Any, data: Any, hp_values: dict, seed: int) -> dict:
    """Train one configuration from scratch with `seed`; test probabilities (and with shuffled orders)."""
    import keras
    import keras_tuner as kt

    from autoorder import session
    from autoorder.features import BackboneBank, FeatureCache
    from autoorder.space import SearchSpace

    session.release()
    bank = BackboneBank(registry, cfg.weights_value(), seed)
    cache = FeatureCache(memory_mb=cfg.cache.memory_mb) if cfg.cache.enabled else None
    space = SearchSpace(cfg, registry, data, bank, cache)
    hp = kt.HyperParameters()
    space.declare_hyperparameters(hp)
    for k, v in hp_values.items():
        if not k.startswith("tuner/"):
            hp.values[k] = v
    keras.utils.set_random_seed(seed)
    model = space.build(hp)
    space.fit(hp, model, epochs=cfg.tuner.epochs, callbacks=[BestWeights()])
    exported = space.export()
    idx = data.indices("test")
    images = data.images[idx].astype(np.float32)
    orders = data.orders[idx]
    shuffled = np.random.default_rng(seed).permutation(orders)
    probs = exported.predict({"image": images, "order": orders}, batch_size=64, verbose=0)
    probs_shuffled = exported.predict({"image": images, "order": shuffled}, batch_size=64, verbose=0)
    return {"probs": probs, "probs_shuffled": probs_shuffled}


def _accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    return float((pred == y).mean()) if len(y) else float("nan")


def object_predictions(probs: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Combine an object's views by summing log-probabilities. Returns (object ids, predicted class)."""
    from autoorder.stats import combine_views

    uniq, _, combined = combine_views(probs, groups)
    return uniq, combined.argmax(axis=1)


def order_only_predictions(train_orders, train_y, test_orders, n_classes: int) -> np.ndarray:
    """The best classifier from the order alone: the majority label of each order value in train."""
    overall = np.bincount(train_y, minlength=n_classes).argmax()
    table = {int(o): np.bincount(train_y[train_orders == o], minlength=n_classes).argmax() for o in np.unique(train_orders)}
    return np.array([table.get(int(o), overall) for o in test_orders])


def summarise(data: Any, runs: dict[str, list[dict]], seeds: list[int]) -> dict:
    """All figures of benchmark.json from the per-seed test probabilities of both arms."""
    idx = data.indices("test")
    y = data.y[idx]
    orders = data.orders[idx]
    groups = data.groups[idx]
    obj_ids, obj_first = np.unique(groups, return_index=True)
    obj_y = y[obj_first]
    out: dict = {}
    correct: dict[str, np.ndarray] = {}
    for arm in ARMS:
        preds = np.stack([r["probs"].argmax(1) for r in runs[arm]])
        correct[arm] = preds == y
        accs = [_accuracy(p, y) for p in preds]
        per_order = {}
        for o in sorted(set(int(v) for v in orders)):
            m = orders == o
            per_order[str(o)] = {**mean_ci([_accuracy(p[m], y[m]) for p in preds]), "images": int(m.sum())}
        obj_accs = []
        for r in runs[arm]:
            ids, pred = object_predictions(r["probs"], groups)
            assert list(ids) == list(obj_ids)
            obj_accs.append(_accuracy(pred, obj_y))
        out[arm] = {
            "test_accuracy": {**mean_ci(accs), "per_seed": dict(zip(map(str, seeds), accs))},
            "object_accuracy": {**mean_ci(obj_accs), "per_seed": dict(zip(map(str, seeds), obj_accs)), "objects": int(len(obj_ids))},
            "per_order": per_order,
        }
    gains = [out["order_aware"]["test_accuracy"]["per_seed"][str(s)] - out["image_only"]["test_accuracy"]["per_seed"][str(s)] for s in seeds]
    gain = {**mean_ci(gains), "per_seed": dict(zip(map(str, seeds), gains))}
    gain["bootstrap"] = paired_bootstrap(correct["image_only"], correct["order_aware"], groups)
    gain["excludes_zero"] = excludes_zero(gain) if gain["low"] is not None else excludes_zero(gain["bootstrap"])
    obj_gains = [
        out["order_aware"]["object_accuracy"]["per_seed"][str(s)] - out["image_only"]["object_accuracy"]["per_seed"][str(s)] for s in seeds
    ]
    out["gain"] = gain
    out["object_gain"] = {**mean_ci(obj_gains), "per_seed": dict(zip(map(str, seeds), obj_gains))}
    tr = data.indices("train")
    n_classes = len(data.classes)
    shuffled = [_accuracy(r["probs_shuffled"].argmax(1), y) for r in runs["order_aware"]]
    out["controls"] = {
        "shuffled_order": {
            **mean_ci(shuffled),
            "per_seed": dict(zip(map(str, seeds), shuffled)),
            "what": "order-aware model, orders permuted across test images",
        },
        "order_only": {
            "accuracy": _accuracy(order_only_predictions(data.orders[tr], data.y[tr], orders, n_classes), y),
            "what": "majority label of each order value in train (the best any order-only model can do)",
        },
        "majority_class": {
            "accuracy": _accuracy(np.full(len(y), np.bincount(data.y[tr], minlength=n_classes).argmax()), y),
            "what": "most frequent label in train",
        },
    }
    out["per_order"] = {arm: out[arm]["per_order"] for arm in ARMS}
    return out


def run_benchmark(
    cfg: C.Config,
    out: str | Path,
    *,
    seeds: int = 3,
    overwrite: bool = False,
    log: Callable[[str], None] | None = None,
    command: str | None = None,
) -> dict:
    """Run (or resume) the whole protocol; writes benchmark.json. Returns it."""
    log = log or (lambda s: None)
    if seeds < 1:
        raise ConfigError(f"The '--seeds' option of benchmark must be an int >= 1. Got {seeds} instead.")
    out = Path(out)
    with folder_lock(out, "benchmark"):
        return _run_benchmark(cfg, out, seeds, overwrite, log, command)


def _run_benchmark(cfg: C.Config, out: Path, seeds: int, overwrite: bool, log: Callable[[str], None], command: str | None) -> dict:
    from autoorder.dataset import load_dataset
    from autoorder.plugins import registry_for
    from autoorder.search import check_space, run_search, versions

    resolved = C.resolved_dict(cfg)
    _prepare(out, overwrite, resolved, seeds)
    registry = registry_for(cfg)
    arms = arm_configs(cfg)
    for c in arms.values():
        check_space(c, registry)
    log(f"loading {cfg.manifest_path()} at {cfg.data.image_size}px")
    data = load_dataset(cfg)
    t0 = time.monotonic()
    searches = {}
    for arm in ARMS:
        log(f"[{arm}] search")
        searches[arm] = run_search(arms[arm], out / arm, registry=registry, data=data, log=lambda s, a=arm: log(f"[{arm}] {s}"))
    seed_list = [cfg.tuner.seed + i for i in range(seeds)]
    runs: dict[str, list[dict]] = {arm: [] for arm in ARMS}
    for s in seed_list:
        for arm in ARMS:
            path = out / "retrain" / f"{arm}-seed{s}.npz"
            if path.exists():
                with np.load(path) as z:
                    runs[arm].append({"probs": z["probs"], "probs_shuffled": z["probs_shuffled"]})
                continue
            log(f"[{arm}] retraining the best configuration with seed {s}")
            r = retrain(arms[arm], registry, data, searches[arm]["best"]["hyperparameters"], s)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(".tmp-" + path.name)
            with open(tmp, "wb") as f:
                np.savez(f, **r)
            tmp.replace(path)
            runs[arm].append(r)
    figures = summarise(data, runs, seed_list)
    result = {
        "dataset": {**data.summary(), "name": _dataset_name(cfg)},
        "command": command,
        "seeds": seed_list,
        "searches": {
            arm: {
                "run_dir": arm,
                "best": searches[arm]["best"],
                "trials": searches[arm]["trials"],
                "max_trials": cfg.tuner.max_trials,
                "epochs": cfg.tuner.epochs,
            }
            for arm in ARMS
        },
        **figures,
        "versions": versions(),
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "seconds": round(time.monotonic() - t0, 1),
    }
    write_json(out / BENCHMARK_JSON, result)
    from autoorder.benchmark_report import render_benchmark_report
    from autoorder.report import render_report

    for arm in ARMS:
        render_report(out / arm)
    render_benchmark_report(out)
    return result


def _dataset_name(cfg: C.Config) -> str:
    """The generator's name when the data came from `autoorder datasets make`, else the folder's."""
    meta = cfg.manifest_path().parent / "dataset.json"
    if meta.exists():
        try:
            return str(read_json(meta, "dataset description").get("name"))
        except RunError:
            pass
    return cfg.manifest_path().parent.name


def machine() -> dict:
    import os
    import platform

    return {"platform": platform.platform(), "processor": platform.machine(), "cpus": os.cpu_count()}
