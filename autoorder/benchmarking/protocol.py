"""Does the upload order help? Benchmark protocol 2: outer repeats, retraining seeds, a hierarchical bootstrap.

Protocol:
1. K outer repeats. Repeat r splits the data with seed `data.split.seed + r` and runs two searches
   with the same budget and search seed `tuner.seed + r`: image-only (encoding fixed to `none`)
   and order-aware (the configured order-aware encodings). Both arms share the repeat's split.
2. In each repeat, each search's best configuration is retrained with each of S seeds, disjoint
   from every search seed, and tested on the repeat's held-out test split. Seed s of one arm is
   paired with seed s of the other.
3. Gain = order-aware minus image-only per-photo test accuracy: the mean over repeats and seeds,
   a 95% hierarchical bootstrap interval (repeats, then seeds, then test objects) and
   `p_positive` = P(gain > 0) under it (`autoorder.core.bootstrap`).
4. Controls: shuffled orders at test; the order-aware configuration trained and tested with a
   constant order (architecture only); the orders of 1%, 5%, 20% of test objects permuted, and
   every order unknown (noncompliance); an order-only model; the majority class.
5. Accuracy per order value, per class (and balanced accuracy), per object; a view classifier.

Every test prediction is written to predictions.csv.gz and every figure is computed from it
(`autoorder.benchmarking.figures`), so the published figures recompute from the folder.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable

import numpy as np

from autoorder.benchmarking.figures import compute_figures
from autoorder.benchmarking.repeat import RETRAIN_SALT, RepeatOutcome, run_repeat
from autoorder.benchmarking.views import WHAT as VIEW_WHAT
from autoorder.core import bootstrap as B
from autoorder.core import config as C
from autoorder.core.environment import machine, versions
from autoorder.core.errors import ConfigError, RunError
from autoorder.core.fileio import clear_folder, folder_lock, read_json, write_json
from autoorder.data.dataset import load_dataset
from autoorder.model.catalog import registry_for
from autoorder.reports.benchmark import render_benchmark_report
from autoorder.reports.markdown import REPORT
from autoorder.reports.search import render_report
from autoorder.run.folder import diff
from autoorder.run.preflight import check_space
from autoorder.schema.arms import ARMS
from autoorder.schema.benchmark import SCHEMA_VERSION, BenchmarkResult, write_benchmark
from autoorder.schema.predictions import PREDICTIONS, Predictions, read_predictions, write_predictions
from autoorder.schema.records import dump

STATE = "benchmark.state.json"
STATE_PROTOCOL = 2


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


def _prepare(out: Path, overwrite: bool, resolved: dict) -> None:
    """A new folder, or one this protocol started with the same config (--repeats and --seeds may differ:
    finished searches and retrainings are kept by repeat and seed, and reused; tuner.max_trials and
    tuner.time_budget may differ: a raised one grows each search, as `autoorder search` does, and a
    search whose best configuration changes has its retrainings made again)."""
    state = out / STATE
    kept: dict = {}
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
            if old.get("protocol") != STATE_PROTOCOL:
                raise RunError(
                    f"Benchmark folder {str(out)!r} was made by an older autoorder (benchmark protocol 1: one split, "
                    "no repeats); it cannot be resumed. Rerun with --overwrite to start over, or use another --out."
                )
            changes = diff(C.without_operational(old.get("config", {}), C.GROWTH_KEYS), C.without_operational(resolved, C.GROWTH_KEYS))
            if changes:
                raise RunError(
                    f"Benchmark folder {str(out)!r} was started with a different config; resuming is refused "
                    f"({'; '.join(changes[:5])}{'; ...' if len(changes) > 5 else ''}). Only tuner.max_trials and "
                    "tuner.time_budget may change (raising them grows every repeat's searches). "
                    "Rerun with --overwrite to start over, or use another --out."
                )
            kept = {"data": old["data"]} if "data" in old else {}
    out.mkdir(parents=True, exist_ok=True)
    write_json(state, {"config": resolved, "protocol": STATE_PROTOCOL, **kept})


def _check_data(out: Path, fingerprint: str) -> None:
    """Finished retrainings are reused by repeat and seed: only while the photos are the same ones."""
    state = read_json(out / STATE, "benchmark state")
    if state.get("data") not in (None, fingerprint):
        raise RunError(
            f"Benchmark folder {str(out)!r} was started on different data (images, orders or split changed: fingerprint "
            f"{state['data']} -> {fingerprint}); resuming is refused. Rerun with --overwrite to start over, or use another --out."
        )
    write_json(out / STATE, {**state, "data": fingerprint})


def _check_counts(seeds: int, repeats: int) -> None:
    for name, value in (("--seeds", seeds), ("--repeats", repeats)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < RETRAIN_SALT:
            raise ConfigError(f"The {name!r} option of benchmark must be an int in [1, {RETRAIN_SALT - 1}]. Got {value!r} instead.")


def run_benchmark(
    cfg: C.Config,
    out: str | Path,
    *,
    seeds: int = 3,
    repeats: int = 1,
    overwrite: bool = False,
    log: Callable[[str], None] | None = None,
    command: str | None = None,
    reps: int = B.DEFAULT_REPS,
    verbose: bool = False,
) -> BenchmarkResult:
    """Run (or resume) the whole protocol; writes benchmark.json, predictions.csv.gz and the reports. Returns it.

    Args:
        seeds: retraining seeds per repeat (S).
        repeats: outer repeats (K), each with its own split and search seed.
        reps: bootstrap resamples.
        verbose: also a line per epoch of every trial and retraining (to `log`).
    """
    log = log or (lambda s: None)
    _check_counts(seeds, repeats)
    out = Path(out)
    with folder_lock(out, "benchmark"):
        return _run_benchmark(cfg, out, seeds, repeats, overwrite, log, command, reps, verbose)


def _run_benchmark(
    cfg: C.Config, out: Path, seeds: int, repeats: int, overwrite: bool, log: Callable[[str], None], command: str | None, reps: int,
    verbose: bool,
) -> BenchmarkResult:
    _prepare(out, overwrite, C.resolved_dict(cfg))
    registry = registry_for(cfg)
    arms = arm_configs(cfg)
    for c in arms.values():
        check_space(c, registry)
    log(f"loading {cfg.manifest_path()} at {cfg.data.image_size}px")
    data = load_dataset(cfg)
    _check_data(out, data.fingerprint())
    t0 = time.monotonic()
    outcomes: list[RepeatOutcome] = []
    for r in range(repeats):
        log(f"repeat {r + 1}/{repeats}")
        outcomes.append(run_repeat(cfg, arms, registry, data, out, r, seeds, log, verbose))
    warnings = [w for o in outcomes for w in o.warnings]
    for w in warnings:
        log(f"warning: {w}")
    write_predictions(out, Predictions.from_rows([row for o in outcomes for row in o.rows]))
    log(f"figures and a {reps}-resample hierarchical bootstrap from {PREDICTIONS}")
    figures = compute_figures(read_predictions(out), reps=reps)  # from the file itself: it recomputes from the file
    result = BenchmarkResult.from_json({
        "schema_version": SCHEMA_VERSION,
        "dataset": {**dump(data.summary()), "name": _dataset_name(cfg)},
        "command": command,
        **{k: v for k, v in figures.items() if k != "repeats"},
        "repeats": [{**dump(o.meta), **f} for o, f in zip(outcomes, figures["repeats"])],
        "view_classifier": _view_summary(outcomes),
        "predictions": PREDICTIONS,
        "versions": versions(),
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "seconds": round(time.monotonic() - t0, 1),
        "warnings": warnings,
    })
    write_benchmark(out, result)
    for o in outcomes:
        for arm in ARMS:
            folder = out / o.meta["searches"][arm]["run_dir"]
            if not (folder / REPORT).exists():  # a finished search's report does not change when the benchmark resumes
                render_report(folder)
    render_benchmark_report(out)
    return result


def _view_summary(outcomes: list[RepeatOutcome]) -> dict:
    acc = [o.meta["view_classifier"] for o in outcomes]
    chance = [o.meta["view_chance"] for o in outcomes]
    finite = [a for a in acc if a is not None]
    return {
        "what": VIEW_WHAT,
        "accuracy": float(np.mean(finite)) if finite else None,
        "per_repeat": acc,
        "chance": float(np.mean([c for c in chance if c is not None])) if finite else None,
    }


def _dataset_name(cfg: C.Config) -> str:
    """The generator's name when the data came from `autoorder datasets make`, else the folder's."""
    meta = cfg.manifest_path().parent / "dataset.json"
    if meta.exists():
        try:
            return str(read_json(meta, "dataset description").get("name"))
        except RunError:
            pass
    return cfg.manifest_path().parent.name
