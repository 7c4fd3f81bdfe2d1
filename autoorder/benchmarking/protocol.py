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

from autoorder.benchmarking.retrain import retrain
from autoorder.benchmarking.summary import summarise
from autoorder.core import config as C
from autoorder.core.environment import machine, versions
from autoorder.core.errors import ConfigError, RunError
from autoorder.core.stats import collapse_threshold, converged
from autoorder.core.fileio import clear_folder, folder_lock, read_json, write_json
from autoorder.data.dataset import load_dataset
from autoorder.model.catalog import registry_for
from autoorder.reports.benchmark import render_benchmark_report
from autoorder.reports.search import render_report
from autoorder.run.preflight import check_space
from autoorder.run.search import run_search
from autoorder.schema.benchmark import ARMS, BenchmarkResult, write_benchmark
from autoorder.schema.records import dump

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


def run_benchmark(
    cfg: C.Config,
    out: str | Path,
    *,
    seeds: int = 3,
    overwrite: bool = False,
    log: Callable[[str], None] | None = None,
    command: str | None = None,
) -> BenchmarkResult:
    """Run (or resume) the whole protocol; writes benchmark.json. Returns it."""
    log = log or (lambda s: None)
    if seeds < 1:
        raise ConfigError(f"The '--seeds' option of benchmark must be an int >= 1. Got {seeds} instead.")
    out = Path(out)
    with folder_lock(out, "benchmark"):
        return _run_benchmark(cfg, out, seeds, overwrite, log, command)


def _run_benchmark(cfg: C.Config, out: Path, seeds: int, overwrite: bool, log: Callable[[str], None], command: str | None) -> BenchmarkResult:
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
                    runs[arm].append({k: z[k] for k in z.files})
                continue
            log(f"[{arm}] retraining the best configuration with seed {s}")
            r = retrain(arms[arm], registry, data, searches[arm].best.hyperparameters, s)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(".tmp-" + path.name)
            with open(tmp, "wb") as f:
                np.savez(f, **r)
            tmp.replace(path)
            runs[arm].append(r)
    figures = summarise(data, runs, seed_list)
    health, collapse_below, warnings = retrain_health(data, runs, seed_list, cfg.tuner.epochs)
    for w in warnings:
        log(f"warning: {w}")
    result = BenchmarkResult.from_json({
        "dataset": {**dump(data.summary()), "name": _dataset_name(cfg)},
        "command": command,
        "seeds": seed_list,
        "searches": {
            arm: {
                "run_dir": arm,
                "best": dump(searches[arm].best),
                "trials": dump(searches[arm].trials),
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
        "retrains": health,
        "collapse_below": collapse_below,
        "warnings": warnings,
    })
    write_benchmark(out, result)
    for arm in ARMS:
        render_report(out / arm)
    render_benchmark_report(out)
    return result


def retrain_health(data: Any, runs: dict[str, list[dict]], seeds: list[int], max_epochs: int) -> tuple[dict, float, list[str]]:
    """Per arm and seed: best validation accuracy and epoch, converged, collapsed; and the warnings.

    A collapsed retraining (validation accuracy that does not clear the majority class by a
    clear margin) stays in every average, but is named in the warnings, on the terminal and
    in report.md: never dropped silently, never averaged in without a word.
    """
    val_y = data.y[data.indices("val")]
    majority = np.bincount(data.y[data.indices("train")], minlength=len(data.classes)).argmax()
    below = collapse_threshold(float((val_y == majority).mean()), len(val_y))
    health: dict = {}
    warnings = []
    for arm in ARMS:
        health[arm] = {}
        for s, r in zip(seeds, runs[arm]):
            val = [float(v) for v in np.asarray(r.get("val_accuracy", []), dtype=float).reshape(-1)]
            best = max(val) if val else None
            rec = {
                "best_val_accuracy": best,
                "best_epoch": int(np.argmax(val)) + 1 if val else None,
                "epochs": len(val) or None,
                "converged": converged(val, max_epochs) if val else None,
                "collapsed": bool(best is not None and best <= below),
            }
            health[arm][str(s)] = rec
            if rec["collapsed"]:
                warnings.append(
                    f"{arm} seed {s} collapsed: best validation accuracy {best:.4f}, which does not clear always "
                    f"answering the most frequent class ({below:.4f} needed); it stays in the averages above."
                )
        unconverged = [s for s, rec in health[arm].items() if rec["converged"] is False]
        if unconverged:
            warnings.append(
                f"{arm}: {len(unconverged)} of {len(seeds)} retraining(s) were still improving when their "
                f"{max_epochs} epochs ran out (seed {', '.join(unconverged)}); more epochs could change the gain."
            )
    return health, below, warnings


def _dataset_name(cfg: C.Config) -> str:
    """The generator's name when the data came from `autoorder datasets make`, else the folder's."""
    meta = cfg.manifest_path().parent / "dataset.json"
    if meta.exists():
        try:
            return str(read_json(meta, "dataset description").get("name"))
        except RunError:
            pass
    return cfg.manifest_path().parent.name


