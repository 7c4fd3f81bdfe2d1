"""The steps of a search, each one call: load, space and preflight, prepare, tuner, finish.

`autoorder.run.search` strings them together for one process; the chief and the workers of a
distributed search (`autoorder.distributed`) string them together their own way.
"""

from __future__ import annotations

import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import keras

from autoorder import compat
from autoorder.core import config as C
from autoorder.core.errors import RunError
from autoorder.core.stats import collapse_threshold
from autoorder.data.dataset import Dataset, load_dataset
from autoorder.model import session
from autoorder.model.callbacks import read_history
from autoorder.model.catalog import registry_for
from autoorder.model.features import BackboneBank, FeatureCache, count_passes
from autoorder.model.space import SearchSpace
from autoorder.model.tuner import AutoOrderTuner, make_oracle
from autoorder.registry.table import Registry
from autoorder.run import folder
from autoorder.run.export import export_best
from autoorder.run.outcome import new_results, search_warnings, trial_record
from autoorder.run.preflight import PROBE_IMAGES, check_space, preflight, sample_probe, space_warnings
from autoorder.run.progress import Progress
from autoorder.schema.results import Baseline, CacheStats, Distributed, MajorityBaseline, RunResults, Timings, write_results

Log = Callable[[str], None]
TrialHook = Callable[[Any], None]


def quiet_framework() -> None:
    """Keras Tuner patched (atomic state files, no prints); expected Keras notices silenced."""
    compat.install()
    # Reloading a trial's best epoch restores weights, not optimizer slots: expected, not news.
    warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")


@dataclass
class SearchRun:
    """What a search works with: its folder, data, space, cache and progress."""

    cfg: C.Config
    out: Path
    data: Dataset
    space: SearchSpace
    cache: FeatureCache | None
    progress: Progress | None
    log: Log
    started: float = 0.0
    devices: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()  # said before the first trial


PASSES = "passes"  # RUN_DIR/passes: a record per backbone pass, by whichever process made it
DECODE_LOG_SECONDS = 15.0


def cache_folder(cfg: C.Config, out: Path) -> Path:
    """`cache.dir`, or RUN_DIR/cache: decoded pixels and cached features, shared by the workers."""
    return C.resolve_path(cfg.base_dir, cfg.cache.dir) if cfg.cache.dir else out / "cache"


def load(
    cfg: C.Config, log: Log, registry: Registry | None = None, data: Dataset | None = None, out: Path | None = None
) -> tuple[Registry, Dataset]:
    """The registry the config sees (space checked against it), and the data (decoded, split).

    With the run folder `out`, a large set's decoded pixels are kept in (and read back from) its
    cache folder: decoded once for the whole search, its resumes and its workers."""
    registry = registry or registry_for(cfg)
    check_space(cfg, registry)
    if data is None:
        log(f"loading {cfg.manifest_path()} at {cfg.data.image_size}px")
        started, last = time.monotonic(), [time.monotonic()]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] >= DECODE_LOG_SECONDS and done < total:
                last[0] = now
                log(f"decoded {done}/{total} images ({done / max(now - started, 1e-9):.0f} images/s)")

        folder = cache_folder(cfg, out) if out is not None else None
        data = load_dataset(cfg, progress, cache_dir=folder, on_wait=lambda: log(f"waiting for another process decoding into {folder}"))
    return registry, data


def build_space(cfg: C.Config, out: Path, registry: Registry, data: Dataset, log: Log) -> tuple[SearchSpace, FeatureCache | None]:
    """The search space and its feature cache; backbones are built here (preflight)."""
    bank = BackboneBank(registry, cfg.weights_value(), cfg.tuner.seed)
    cache = None
    if cfg.cache.enabled:
        cache = FeatureCache(memory_mb=cfg.cache.memory_mb, spill_dir=cache_folder(cfg, out), progress=log,
                             dtype=cfg.cache.dtype, ledger=out / PASSES)
    space = SearchSpace(cfg, registry, data, bank, cache, log)
    preflight(out, bank, cfg)
    keras.utils.set_random_seed(cfg.tuner.seed)
    return space, cache


def before_trials(run: "SearchRun", registry: Registry) -> list[str]:
    """The warnings `validate` gives, said once before the first trial (and kept for results.json).

    With the feature cache, the frozen cuts are filled now (the one backbone pass the trials
    would make anyway) and checked on their cached features: no extra pass."""
    if run.cache is not None:
        probe = run.space.degenerate_cached_cuts
    else:
        probe = sample_probe(run.cfg, run.space.bank, run.data.pixels[run.data.indices("train")[:PROBE_IMAGES]])
    found = space_warnings(run.cfg, registry, probe)
    for w in found:
        run.log(f"warning: {w}")
    return found


def prepare(
    cfg: C.Config, out: Path, overwrite: bool, log: Log, registry: Registry | None = None, data: Dataset | None = None
) -> SearchRun:
    """Run folder (new or resumed), data, state files, space: everything before the first trial."""
    quiet_framework()
    if cfg.tuner.deterministic:
        session.deterministic_ops()
    started = time.monotonic()
    resolved = C.resolved_dict(cfg)
    previous = folder.prepare_run_dir(out, resolved, overwrite)
    if (out / PASSES).is_dir():  # this session's passes are counted (results.json cache.backbone_passes)
        shutil.rmtree(out / PASSES, ignore_errors=True)
    registry, data = load(cfg, log, registry, data, out)
    fp = data.fingerprint()
    folder.check_same_data(out, previous, fp)
    if previous is not None:
        log(f"resuming run in {out}")
    folder.write_state(out, resolved, fp, previous, data.split_rows())
    progress = Progress(out / folder.TRIAL_SECONDS, cfg.tuner.max_trials, log, cfg.tuner.objective)
    space, cache = build_space(cfg, out, registry, data, log)
    run = SearchRun(cfg, out, data, space, cache, progress, log, started)
    run.warnings = tuple(before_trials(run, registry))
    return run


def collapse_line(data: Dataset, majority: MajorityBaseline | None = None) -> float | None:
    """The val_accuracy a trial must exceed not to count as collapsed (None without a majority)."""
    majority = majority or MajorityBaseline(**data.majority_baseline())
    if majority.val_accuracy is None:
        return None
    return collapse_threshold(majority.val_accuracy, len(data.indices("val")))


def make_tuner(run: SearchRun, on_trial: TrialHook | None = None, **kwargs: Any) -> AutoOrderTuner:
    """A tuner over the run's space; `on_trial(record)` is called after each finished trial."""
    progress = run.progress

    def finished(trial: Any, seconds: float) -> None:
        if progress is not None:
            progress(trial, seconds)
        if on_trial is not None:
            on_trial(trial_record(trial, seconds))

    return AutoOrderTuner(
        make_oracle(run.cfg),
        run.space,
        on_trial=finished,
        trial_timeout=run.cfg.tuner.trial_timeout,
        log=run.log,
        directory=str(run.out),
        project_name=folder.TUNER_DIR,
        overwrite=False,
        collapse_below=collapse_line(run.data),
        **kwargs,
    )


def search(run: SearchRun, tuner: AutoOrderTuner) -> None:
    """Run the trials in this process until max_trials or the time budget."""
    tuner.search(verbose=0)
    if tuner.stop_reason:
        run.log(f"stopped: tuner.time_budget of {run.cfg.tuner.time_budget:g}s is spent ({len(tuner.oracle.trials)} trials)")


def finish(run: SearchRun, tuner: AutoOrderTuner, distributed: dict | None = None) -> RunResults:
    """results.json, trials.csv, best model and its test predictions, from the oracle's trials."""
    out, data, cache = run.out, run.data, run.cache
    majority = MajorityBaseline(**data.majority_baseline())
    collapse_below = collapse_line(data, majority)
    names = [h.name for h in tuner.oracle.get_space().space]
    seconds = run.progress.seconds if run.progress is not None else (lambda trial_id: None)
    trials = [
        trial_record(t, seconds(t.trial_id), names, run.cfg.tuner.epochs, collapse_below,
                     read_history(tuner.get_trial_dir(t.trial_id)), run.cfg.tuner.objective)
        for t in tuner.oracle.trials.values()
    ]
    results = new_results(out, data.summary(), trials, tuner.stop_reason, run.cfg.tuner.objective)
    results.baseline = Baseline(majority_class=majority, collapse_below=collapse_below)
    results.deterministic = run.cfg.tuner.deterministic
    results.devices = list(run.devices)
    pass_seconds = cache.fill_seconds if cache is not None else None
    if distributed is not None:
        results.distributed = Distributed(workers=distributed["workers"], reassigned=distributed["reassigned"])
    if distributed is not None and cache is not None:  # every process's passes: the chief's and its workers'
        passes, pass_seconds = count_passes(out / PASSES)
        results.cache = CacheStats(backbone_passes=passes)
    elif cache is not None:
        results.cache = CacheStats(backbone_passes=cache.total_passes())
    ranking = results.ranked()
    if not ranking:
        write_results(out, results)
        reasons = "; ".join(f"trial {t.id}: {t.reason}" for t in results.trials[:5])
        raise RunError(f"No trial of the search in {str(out)!r} finished with a finite score ({reasons}).")
    best_trial = ranking[0]
    run.log(f"exporting the best model (trial id {best_trial.id}, {run.cfg.tuner.objective} {best_trial.objective_value:.4f})")
    t0 = time.monotonic()
    results.best = export_best(tuner, run.space, best_trial, data, out)
    results.warnings = list(run.warnings) + search_warnings(run.cfg, results.best, majority, results.trials)
    for w in results.warnings[len(run.warnings):]:  # those before the first trial were said then
        run.log(f"warning: {w}")
    results.timings = Timings(
        total_seconds=round(time.monotonic() - run.started, 3),
        backbone_pass_seconds=round(pass_seconds, 3) if pass_seconds is not None else None,
        fit_seconds=round(run.space.fit_seconds, 3),
        export_seconds=round(time.monotonic() - t0, 3),
    )
    write_results(out, results)
    return results
