"""The files of a run folder, read back through one checked loader each.

A run folder can be damaged (a disk error, a half-copied folder) or hold files from somewhere
else (a labels.json edited by hand, a best_model.keras from another run). Every reader here
names the file and says what is wrong with it, instead of a traceback or a silently wrong
answer (a labels.json longer than the model's outputs would name classes wrongly).
Nothing here imports TensorFlow (the distributed launcher reads run.json too): the best model
itself is loaded and checked by `autoorder.run.predict.load_best_model`.
"""

from __future__ import annotations

from pathlib import Path

from autoorder.core import config as C
from autoorder.core.errors import ConfigError, RunError, describe
from autoorder.core.fileio import check_regular, read_json, read_regular
from autoorder.core.safeyaml import load_yaml
from autoorder.schema.results import LABELS, RESOLVED

RUN_STATE = "run.json"
TRIAL_SECONDS = "trial_seconds.json"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
MAX_RUN_CONFIG_BYTES = 2**20
RESTORE = "Restore it from a backup, or rerun the search (--overwrite starts over)."


def _damaged(path: Path, what: str) -> RunError:
    return RunError(f"Run file {str(path)!r} {what}. {RESTORE}")


def read_run_config(run_dir: str | Path) -> C.Config:
    """RUN_DIR/config.resolved.yaml, validated as a config (the run's columns, image limits, ...)."""
    path = Path(run_dir) / RESOLVED
    data = read_regular(path, "Run file", "the config.resolved.yaml a search writes", RunError, MAX_RUN_CONFIG_BYTES)
    try:
        raw = load_yaml(data.decode("utf-8", errors="strict"), f"Run file {str(path)!r}", RunError)
    except UnicodeDecodeError as e:
        raise _damaged(path, f"is not UTF-8 text (byte {e.start})") from None
    try:
        return C.from_dict(raw, source=str(path), base_dir=Path(run_dir))
    except ConfigError as e:
        raise RunError(f"{e} It is a run file, written by `autoorder search`: {RESTORE[0].lower()}{RESTORE[1:]}") from None


def read_labels(run_dir: str | Path) -> list[str]:
    """RUN_DIR/labels.json: the class names, distinct non-empty strings, in the order of the model's outputs."""
    path = Path(run_dir) / LABELS
    data = read_json(path, "labels file")
    ok = isinstance(data, list) and len(data) >= 2 and all(isinstance(c, str) and c for c in data)
    if not ok or len(set(data)) != len(data):
        raise _damaged(
            path,
            "must hold the class names in the order of the model's outputs: a list of at least 2 distinct, "
            f"non-empty strings. Got {describe(data)} instead",
        )
    return list(data)


def read_run_state(out: str | Path) -> dict:
    """RUN_DIR/run.json: a mapping with the resolved `config` and the `data_fingerprint`."""
    path = Path(out) / RUN_STATE
    state = read_json(path, "run state")
    if not isinstance(state, dict) or not isinstance(state.get("config"), dict):
        raise _damaged(path, f"is not an autoorder run state: expected a mapping with a 'config' mapping. Got {describe(state)} instead")
    fp = state.get("data_fingerprint")
    if fp is not None and not isinstance(fp, str):
        raise _damaged(path, f"has a 'data_fingerprint' that is not a string. Got {describe(fp)} instead")
    return state


def read_trial_seconds(path: str | Path) -> dict:
    """RUN_DIR/trial_seconds.json: trial id -> {seconds, score}; {} when absent."""
    path = Path(path)
    if not path.exists():
        return {}
    times = read_json(path, "trial times")
    ok = isinstance(times, dict) and all(isinstance(v, dict) for v in times.values())
    if not ok:
        raise _damaged(path, f"must map each trial id to {{seconds, score}}. Got {describe(times)} instead")
    return times


def check_weights_file(path: str | Path, what: str) -> None:
    """A weights file Keras can read: a regular HDF5 file that h5py opens (a truncated one is named)."""
    path = Path(path)
    expected = "an HDF5 weights file written by Keras"
    check_regular(path, f"The {what}", expected)
    with open(path, "rb") as f:
        head = f.read(len(HDF5_SIGNATURE))
    if head != HDF5_SIGNATURE:
        raise _damaged(path, f"({what}) is not an HDF5 file (it starts with {describe(head)}); expected {expected}")
    import h5py  # lazy: only exporting a best model reads a checkpoint back

    try:
        with h5py.File(path, "r") as h5:
            h5.visit(lambda name: None)
    except Exception as e:  # noqa: BLE001 - h5py's errors for a damaged file vary by version
        raise _damaged(path, f"({what}) is damaged: {describe(str(e), 200)}") from None
