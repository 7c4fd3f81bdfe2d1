"""Atomic file writes and safe CSV: a crash or a full disk never leaves a torn file behind."""

from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import io
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

from autoorder.core import faults
from autoorder.core.errors import RunError

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is fsynced and renamed over `path`.

    On any error the temporary file is removed and `path` keeps its previous content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as f:
            os.fsync(f.fileno())
        faults.reached("write")
        os.replace(tmp_path, path)
    except OSError as e:
        tmp_path.unlink(missing_ok=True)
        if e.errno == errno.ENOSPC:
            raise RunError(f"No space left on the device while writing {str(path)!r}; its previous content is intact.") from None
        raise
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return _json_safe(obj.item())
    return obj


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(_json_safe(obj), indent=2, sort_keys=False) + "\n")


def read_json(path: str | Path, what: str = "file") -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"The {what} {str(path)!r} does not exist.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunError(
            f"The {what} {str(path)!r} is corrupt ({e}). Restore it from a backup, or rerun with --overwrite."
        ) from None


def escape_cell(value: Any) -> Any:
    """Neutralise cells a spreadsheet would run as formulas (CSV injection)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def unescape_cell(value: str) -> str:
    """A cell as it was before `escape_cell` (for files autoorder reads back)."""
    if value.startswith("'") and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value


def csv_text(header: list[str], rows: Iterable[Iterable[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([escape_cell(h) for h in header])
    for row in rows:
        w.writerow([escape_cell(v) for v in row])
    return buf.getvalue()


def write_csv(path: str | Path, header: list[str], rows: Iterable[Iterable[Any]]) -> None:
    write_text(path, csv_text(header, rows))


@contextlib.contextmanager
def folder_lock(folder: str | Path, what: str = "run") -> Iterator[None]:
    """Hold an exclusive lock on `folder` (created if missing) while a run writes into it.

    A second search or benchmark started on the same folder stops at once with a clear error
    instead of interleaving its writes with the first one's. The lock is an flock on the folder
    itself: no file is added, and the kernel drops it when the process ends, even by kill -9, so
    no stale lock is ever left behind. Where the filesystem does not support it (some network
    mounts) the run goes on unlocked.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise RunError(f"--out {str(folder)!r} is a file. Expected a folder for the {what}.")
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunError(
                f"The {what} folder {str(folder)!r} is in use by another running autoorder process; nothing was "
                "changed. Wait for it to finish (rerunning the same command then resumes), or use another --out."
            ) from None
        except OSError:  # no flock on this filesystem: go on without the lock
            pass
        yield
    finally:
        os.close(fd)


def clear_folder(folder: Path) -> None:
    """Remove everything inside `folder` but keep the folder itself (and so the lock held on it)."""
    for child in Path(folder).iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
