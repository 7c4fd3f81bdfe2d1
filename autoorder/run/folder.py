"""The run folder: created, resumed or overwritten, and the state that makes a resume safe.

`run.json` holds the resolved config, the data fingerprint, versions and the start time. A
resume is refused when the config (what the search finds, not how it runs) or the data changed.
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
from autoorder.schema.results import RESOLVED, SPLIT_CSV, SPLIT_HEADER

RUN_STATE = "run.json"
TUNER_DIR = "tuner"
TRIAL_SECONDS = "trial_seconds.json"


def config_hash(resolved: dict) -> str:
    """What defines a search (cache, distribution, leases excluded: they change how, not what)."""
    d = C.without_operational(resolved)
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
            changes = diff(C.without_operational(old), C.without_operational(resolved))
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
    write_csv(out / SPLIT_CSV, SPLIT_HEADER[: len(split_rows[0])] if split_rows else SPLIT_HEADER, split_rows)
