"""The run folder: created, resumed or overwritten, and the state that makes a resume safe.

`run.json` holds the resolved config, the data fingerprint, versions and the start time. A
resume is refused when the config (what the search finds, not how it runs) or the data changed;
`tuner.max_trials` and `tuner.time_budget` say how far a search goes, so raising them grows the
run instead. A run with nothing left to do is left as it is (`finished`).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from autoorder.core import config as C
from autoorder.core.environment import versions
from autoorder.core.errors import RunError
from autoorder.core.fileio import clear_folder, read_json, write_csv, write_json, write_text
from autoorder.schema.results import BEST_MODEL, RESOLVED, RESULTS, SPLIT_CSV, RunResults, read_results

RUN_STATE = "run.json"
TUNER_DIR = "tuner"
TRIAL_SECONDS = "trial_seconds.json"


def config_hash(resolved: dict) -> str:
    """What defines a search (cache, distribution, leases excluded: they change how, not what; max_trials
    and time_budget excluded: they say how far it goes)."""
    d = C.without_operational(resolved, C.GROWTH_KEYS)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    """`key: old -> new` for every leaf that differs between two nested mappings."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += diff(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [f"{prefix.rstrip('.')}: {a!r} -> {b!r}"]


def prepare_run_dir(out: Path, resolved: dict, overwrite: bool) -> dict | None:
    """Create, resume or overwrite a run folder. Returns the previous run state when resuming.

    Call with the folder locked (`fileio.folder_lock`), so that no running search loses files."""
    state_path = out / RUN_STATE
    if overwrite and out.exists():
        if not state_path.exists() and any(out.iterdir()):
            raise RunError(
                f"--out {str(out)!r} holds files that are not an autoorder run; refusing to overwrite them. "
                "Choose another folder."
            )
        clear_folder(out)  # not rmtree: the lock is held on the folder itself
    if out.exists() and any(out.iterdir()):
        if not state_path.exists():
            raise RunError(
                f"--out {str(out)!r} is not empty and is not an autoorder run; nothing was changed. "
                "Choose an empty or new folder."
            )
        state = read_json(state_path, "run state")
        old = state.get("config", {})
        if config_hash(old) != config_hash(resolved):
            changes = diff(C.without_operational(old, C.GROWTH_KEYS), C.without_operational(resolved, C.GROWTH_KEYS))
            raise RunError(
                f"Run folder {str(out)!r} was started with a different config; resuming is refused. Changes:\n  "
                + "\n  ".join(changes[:20])
                + "\nRerun with --overwrite to start over, or use another --out."
            )
        return state
    out.mkdir(parents=True, exist_ok=True)
    return None


def check_same_data(out: Path, previous: dict | None, fingerprint: str) -> None:
    """A resumed run must see the same images, orders and split."""
    if previous is not None and previous.get("data_fingerprint") != fingerprint:
        raise RunError(
            f"Run folder {str(out)!r} was started on different data (images, orders or split changed: "
            f"fingerprint {previous.get('data_fingerprint')} -> {fingerprint}); resuming is refused. "
            "Rerun with --overwrite to start over, or use another --out."
        )


def write_state(out: Path, resolved: dict, fingerprint: str, previous: dict | None, split_rows: list[list]) -> None:
    """run.json, config.resolved.yaml and split.csv (kept from the first session of a resumed run)."""
    started = (previous or {}).get("started") or time.strftime("%Y-%m-%dT%H:%M:%S")
    write_json(out / RUN_STATE, {"config": resolved, "data_fingerprint": fingerprint, "versions": versions(), "started": started})
    write_text(out / RESOLVED, C.dump_yaml(resolved))
    write_csv(out / SPLIT_CSV, ["line", "image", "label", "order", "object_id", "split"], split_rows)


def finished(out: Path, resolved: dict, overwrite: bool = False) -> tuple[RunResults, dict, str] | None:
    """(results, run state, why) when `out` holds a finished run that this config would not extend.

    None when there is work to do (a new or overwritten folder, another config, a trial started
    after the results were written, or room left under tuner.max_trials and tuner.time_budget).
    The data is not compared here (the caller does, as for a resume).
    """
    state_path = out / RUN_STATE
    if overwrite or not state_path.is_file() or not (out / RESULTS).is_file() or not (out / BEST_MODEL).is_file():
        return None
    state = read_json(state_path, "run state")
    old = state.get("config", {})
    if config_hash(old) != config_hash(resolved):
        return None  # the resume check explains what changed
    results = read_results(out)
    if results.best is None:
        return None
    recorded = {t.id for t in results.trials}
    started = {p.name[len("trial_"):] for p in (out / TUNER_DIR).glob("trial_*") if p.is_dir()}
    if started - recorded:
        return None  # trials of a later session that did not finish: resume them
    tuner = resolved["tuner"]
    n = len(results.trials)
    budget = tuner.get("time_budget")
    spent = sum(float(t.get("seconds") or 0.0) for t in _trial_times(out).values())
    if n >= tuner["max_trials"]:
        return results, state, f"{n} trials, tuner.max_trials is {tuner['max_trials']}"
    if budget and spent >= budget:
        return results, state, f"tuner.time_budget of {budget:g}s is spent ({spent:.0f}s over {n} trials)"
    reach = state.get("finished") or {}  # what the session that wrote these results was asked for
    same_reach = bool(reach) and all(reach.get(k) == tuner.get(k) for k in ("max_trials", "time_budget"))
    if same_reach and results.stopped == "max_trials":
        # The oracle stopped before max_trials on its own (every combination of a small space tried).
        return results, state, f"{n} trials: the search space has no untried combination left"
    return None


def mark_finished(out: Path, resolved: dict) -> None:
    """Record in run.json how far the session that just wrote the results was asked to go."""
    state = read_json(out / RUN_STATE, "run state")
    state["finished"] = {k: resolved["tuner"].get(k) for k in ("max_trials", "time_budget")}
    write_json(out / RUN_STATE, state)


def _trial_times(out: Path) -> dict:
    path = out / TRIAL_SECONDS
    times = read_json(path, "trial times") if path.is_file() else {}
    return times if isinstance(times, dict) else {}
