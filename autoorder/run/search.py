"""A whole search in one process: config -> data -> Keras Tuner -> results, best model, test accuracy.

The pipeline, one call per step; each step lives in `autoorder.run.stages`. A distributed
search strings the same steps together in `autoorder.distributed` (chief and workers).
A finished run with nothing left to do (`folder.finished`) is left untouched: not a file is
rewritten, not even the best model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from autoorder.core.config import Config, resolved_dict
from autoorder.core.fileio import folder_lock
from autoorder.data.dataset import Dataset
from autoorder.model import session
from autoorder.model.tuner import make_strategy
from autoorder.registry.table import Registry
from autoorder.run import folder, stages
from autoorder.schema.results import RunResults


def run_search(
    cfg: Config,
    out: str | Path,
    *,
    overwrite: bool = False,
    log: Callable[[str], None] | None = None,
    registry: Registry | None = None,
    data: Dataset | None = None,
    on_trial: Callable[[Any], None] | None = None,
    verbose: bool = False,
) -> RunResults:
    """Run (or resume) a search and export its best model; returns what results.json holds.

    Args:
        cfg: a validated config (`autoorder.core.config.load_config`).
        out: the run folder; an existing run is resumed (`overwrite` starts over).
        log: receives progress lines (library code never prints).
        registry, data: reuse what the caller already loaded (a benchmark's two searches).
        on_trial: called with each finished trial's `TrialRecord`.
        verbose: also a line per epoch of every trial (to `log`).

    The result's `timings` and `cache.backbone_passes` say where the time went.
    """
    out = Path(out)
    log = log or (lambda line: None)
    with folder_lock(out, "run"):
        done = folder.finished(out, resolved_dict(cfg), overwrite)
        if done is not None:
            results, state, why = done
            _, loaded = stages.load(cfg, log, registry, data, out)
            folder.check_same_data(out, state, loaded.fingerprint())
            log(
                f"nothing to do: {out} holds a finished search ({why}). Raise tuner.max_trials or tuner.time_budget "
                "(e.g. --set tuner.max_trials=N) to run more trials, or pass --overwrite to start over."
            )
            return results
        run = stages.prepare(cfg, out, overwrite, log, registry, data)
        run.devices = tuple(session.devices())
        log(f"training on: {', '.join(run.devices)}")
        tuner = stages.make_tuner(run, on_trial, deadline=run.progress.deadline(cfg.tuner.time_budget),
                                  distribution_strategy=make_strategy(cfg), epoch_log=log if verbose else None)
        stages.search(run, tuner)
        results = stages.finish(run, tuner)
        folder.mark_finished(out, resolved_dict(cfg))
        return results
