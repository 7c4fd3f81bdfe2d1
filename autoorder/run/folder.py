"""The run folder: created, resumed or overwritten, and the state that makes a resume safe.

`run.json` holds the resolved config, the data fingerprint, versions and the start time. A
resume is refused when the config (what the search finds, not how it runs) or the data changed
(naming the rows and images that changed), or when the trials on record lost their `tuner/`
folder; `tuner.max_trials` and `tuner.time_budget` say how far a search goes, so raising them
grows the run instead. A run with nothing left to do is left as it is (`finished`). The folder
is checked writable before any data is read.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from pathlib import Path
from typing import Any

from autoorder.core import config as C
from autoorder.core.environment import versions
from autoorder.core.errors import AutoOrderError, RunError, describe
from autoorder.core.fileio import check_writable, clear_folder, escape_cell, read_regular, write_csv, write_json, write_text
from autoorder.data.dataset import FINGERPRINT_KIND
from autoorder.data.images import file_digest
from autoorder.data.manifest import read_manifest
from autoorder.run.runfiles import RUN_STATE, TRIAL_SECONDS, read_run_state, read_trial_seconds
from autoorder.schema.results import BEST_MODEL, RESOLVED, RESULTS, SPLIT_CSV, SPLIT_HEADER, RunResults, read_results

TUNER_DIR = "tuner"
SHOWN = 20  # changed rows listed when a resume is refused


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
        state = read_run_state(out)
        check_tuner_folder(out)
        old = state["config"]
        if config_hash(old) != config_hash(resolved):
            changes = diff(C.without_operational(old, C.GROWTH_KEYS), C.without_operational(resolved, C.GROWTH_KEYS))
            raise RunError(
                f"Run folder {str(out)!r} was started with a different config; resuming is refused. Changes:\n  "
                + "\n  ".join(changes[:20])
                + "\nRerun with --overwrite to start over, or use another --out."
            )
        check_writable(out, "run folder")
        return state
    check_writable(out, "run folder")  # before any data is read: a read-only or full target fails now
    return None


def check_tuner_folder(out: Path) -> None:
    """Trials on record need their tuner/ folder: without it Keras Tuner would silently start over."""
    if (out / TUNER_DIR).is_dir():
        return
    finished = len(read_trial_seconds(out / TRIAL_SECONDS))
    if finished or (out / RESULTS).exists():
        record = f"{finished} finished trial(s) in {TRIAL_SECONDS}" if finished else RESULTS
        raise RunError(
            f"Run folder {str(out)!r} has {record} but no {TUNER_DIR}/ folder, where Keras Tuner keeps the trials "
            "(deleted or not copied?). Resuming would start the search over with a wrong trial count; nothing was "
            f"changed. Restore {TUNER_DIR}/ from a backup, or rerun with --overwrite to start over."
        )


def check_same_data(out: Path, previous: dict | None, fingerprint: str) -> None:
    """A resumed run must see the same images, orders and split; a refusal names what changed."""
    if previous is None or previous.get("data_fingerprint") == fingerprint:
        return
    try:
        changes = changed_rows(out, previous)
    except (AutoOrderError, OSError, ValueError, KeyError):  # the record itself is unreadable: the plain message
        changes = None
    if changes == [] and previous.get("data_fingerprint_kind") != FINGERPRINT_KIND and every_row_hashed(out):
        # Started before the fingerprint hashed files instead of pixels: the rows and every file's
        # sha256 in split.csv are what pinned that run's data, and they are unchanged.
        return
    changes = changes or []
    listed = "".join(f"\n  {c}" for c in changes[:SHOWN]) + (f"\n  ... and {len(changes) - SHOWN} more" if len(changes) > SHOWN else "")
    what = f" What changed:{listed}\n" if changes else " (images, orders or split changed: "
    tail = "" if changes else f"fingerprint {previous.get('data_fingerprint')} -> {fingerprint}); "
    raise RunError(
        f"Run folder {str(out)!r} was started on different data; resuming is refused.{what}{tail}"
        "Rerun with --overwrite to start over, or use another --out."
    )


def every_row_hashed(out: Path) -> bool:
    """Whether split.csv records a sha256 for every row (older run folders have none)."""
    try:
        text = read_regular(out / SPLIT_CSV, "Run file", "the split.csv a search writes").decode("utf-8")
    except (AutoOrderError, OSError, ValueError):
        return False
    rows = list(csv.DictReader(io.StringIO(text)))
    return bool(rows) and all(r.get("sha256") for r in rows)


def changed_rows(out: Path, previous: dict) -> list[str]:
    """What differs between the rows in split.csv (with each image's sha256) and the manifest now."""
    text = read_regular(out / SPLIT_CSV, "Run file", "the split.csv a search writes").decode("utf-8")
    old_rows = list(csv.DictReader(io.StringIO(text)))
    data = previous["config"]["data"]
    manifest = read_manifest(data["manifest"], dict(data["columns"]))
    old_by_path: dict[str, dict] = {}
    for r in old_rows:
        old_by_path.setdefault(r["image"], r)  # cells as written: escaped against spreadsheet formulas
    changes, seen = [], set()
    for row in manifest.rows:
        cell = escape_cell(row.path)
        old = old_by_path.get(cell)
        where = f"line {row.line}: {describe(row.path, 60)}"
        if old is None:
            changes.append(f"{where}: a new row")
            continue
        seen.add(cell)
        for key, now in (("label", row.label), ("order", str(row.order)), ("object_id", row.group)):
            if old.get(key) != escape_cell(now):
                changes.append(f"{where}: {key} {old.get(key)!r} -> {now!r}")
        digest = old.get("sha256")
        if digest and file_digest(row.image) != digest:
            changes.append(f"{where}: the image file changed (its content differs from when the run started)")
    changes += [f"{describe(p, 60)}: a row removed from the manifest" for p in old_by_path if p not in seen]
    return changes


def write_state(out: Path, resolved: dict, fingerprint: str, previous: dict | None, split_rows: list[list]) -> None:
    """run.json, config.resolved.yaml and split.csv (kept from the first session of a resumed run)."""
    started = (previous or {}).get("started") or time.strftime("%Y-%m-%dT%H:%M:%S")
    write_json(out / RUN_STATE, {"config": resolved, "data_fingerprint": fingerprint, "data_fingerprint_kind": FINGERPRINT_KIND,
                                 "versions": versions(), "started": started})
    write_text(out / RESOLVED, C.dump_yaml(resolved))
    write_csv(out / SPLIT_CSV, SPLIT_HEADER[: len(split_rows[0])] if split_rows else SPLIT_HEADER, split_rows)


def finished(out: Path, resolved: dict, overwrite: bool = False) -> tuple[RunResults, dict, str] | None:
    """(results, run state, why) when `out` holds a finished run that this config would not extend.

    None when there is work to do (a new or overwritten folder, another config, a trial started
    after the results were written, or room left under tuner.max_trials and tuner.time_budget).
    The data is not compared here (the caller does, as for a resume).
    """
    state_path = out / RUN_STATE
    if overwrite or not state_path.is_file() or not (out / RESULTS).is_file() or not (out / BEST_MODEL).is_file():
        return None
    state = read_run_state(out)
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
    spent = sum(float(t.get("seconds") or 0.0) for t in read_trial_seconds(out / TRIAL_SECONDS).values())
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
    state = read_run_state(out)
    state["finished"] = {k: resolved["tuner"].get(k) for k in ("max_trials", "time_budget")}
    write_json(out / RUN_STATE, state)
