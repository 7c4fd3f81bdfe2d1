"""Every file autoorder writes or reads back goes through here.

Writes are atomic (temporary file beside the target, fsync, rename): a crash or a full disk
never leaves a torn file, and a failed write leaves no temporary file behind. A full disk, a
read-only filesystem, a missing permission or a file where a folder should be becomes one
`WriteError` that names the folder. Reads accept regular files only (a FIFO would block, a
device never end) and name the file and what is wrong with it.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import io
import json
import math
import os
import re
import shutil
import stat
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from autoorder.core import faults
from autoorder.core.errors import AutoOrderError, RunError, WriteError

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A plain decimal number (`-1`, `+2`, `-0.5`, `1e-3`): a spreadsheet reads it as a number, never a formula.
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


MIB = 2**20
# Writes that may fill the disk check this much more than their own size first: a native
# library (h5py) can crash the process outright when it runs out of space mid-write.
FREE_SPACE_MARGIN = 4 * MIB

_REASONS = {
    errno.ENOSPC: ("no space left on the device", "Free some space (or choose another folder), then run the same command again."),
    errno.EDQUOT: ("the disk quota is exceeded", "Free some space (or choose another folder), then run the same command again."),
    errno.EROFS: ("the filesystem is read-only", "Choose a writable folder."),
    errno.EACCES: ("permission denied", "Check the folder's permissions, or choose another folder."),
    errno.EPERM: ("operation not permitted", "Check the folder's permissions, or choose another folder."),
    errno.ENAMETOOLONG: ("the name is too long for the filesystem", "Choose a shorter path."),
}
_NOT_A_FOLDER = (errno.ENOTDIR, errno.EEXIST, errno.EISDIR)
WRITE_ERRNOS = frozenset(_REASONS) | frozenset(_NOT_A_FOLDER)


def _blocking_file(path: Path) -> Path | None:
    """The nearest existing ancestor of `path` (itself included) that is not a folder."""
    for p in (path, *path.parents):
        try:
            if os.path.lexists(p):
                return None if p.is_dir() else p
        except OSError:
            return None
    return None


def write_error(
    path: str | Path,
    e: OSError,
    what: str | None = None,
    *,
    folder: str | Path | None = None,
    head: str | None = None,
    detail: str = "",
) -> WriteError:
    """One message for a failed write: what, in which folder, why, and that nothing was left behind.

    `head` replaces the opening "Cannot write WHAT in the folder FOLDER" for other actions.
    """
    path = Path(path)
    folder = Path(folder) if folder is not None else path.parent
    head = head or f"Cannot write {what or repr(path.name)} in the folder {str(folder)!r}"
    code = e.errno
    if code in _NOT_A_FOLDER:
        blocker = _blocking_file(folder) or _blocking_file(path)
        if blocker is not None:
            reason = f"{str(blocker)!r} is a file, not a folder"
            hint = "Move that file away, or choose another folder."
        else:
            reason, hint = os.strerror(code).lower() if code else str(e), "Choose another folder."
    elif code in _REASONS:
        reason, hint = _REASONS[code]
    else:
        reason, hint = (e.strerror or str(e)), "Choose another folder."
    name = f" ({errno.errorcode[code]}{detail})" if code in errno.errorcode else ""
    return WriteError(
        f"{head}: {reason}{name}. Nothing was left half-written "
        f"and files already there are unchanged. {hint}",
        errno=code,
        folder=str(folder),
    )


def free_bytes(folder: str | Path) -> int | None:
    """Free bytes on the device of `folder` (or of its nearest existing ancestor); None if unknown."""
    for p in (Path(folder), *Path(folder).parents):
        try:
            return shutil.disk_usage(p).free
        except OSError:
            continue
    return None


def check_free_space(path: str | Path, need: int, what: str | None = None) -> None:
    """Refuse a write of about `need` bytes beside `path` before it starts, when it cannot fit."""
    path = Path(path)
    free = free_bytes(path.parent)
    if free is None or free >= need + FREE_SPACE_MARGIN:
        return
    raise write_error(path, _enospc(), what, detail=f": about {_mb(need)} needed, {_mb(free)} free")


def _enospc() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _mb(n: int) -> str:
    return f"{n / MIB:.1f} MB"


def make_folder(folder: str | Path, what: str = "folder") -> Path:
    """`mkdir -p`, with a failure turned into one `WriteError` that names the folder."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise write_error(folder, e, folder=folder, head=f"Cannot create the {what} {str(folder)!r}") from None
    return folder


def check_writable(folder: str | Path, what: str = "folder") -> None:
    """Create the folder if needed and write (then remove) a probe file in it: fail before any work."""
    folder = make_folder(folder, what)
    try:
        fd, probe = tempfile.mkstemp(prefix=".autoorder-write-test.", dir=folder)
        try:
            os.write(fd, b"ok")
        finally:
            os.close(fd)
            Path(probe).unlink(missing_ok=True)
    except OSError as e:
        raise write_error(folder, e, folder=folder, head=f"Cannot write into the {what} {str(folder)!r}") from None


@contextlib.contextmanager
def atomic_path(
    path: str | Path, *, suffix: str = ".tmp", need_bytes: int = 0, what: str | None = None
) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is fsynced and renamed over `path`.

    On any error the temporary file is removed and `path` keeps its previous content; a full
    disk, a read-only filesystem, a missing permission or a file in place of a folder raise one
    `WriteError` naming the folder. `need_bytes` (the expected size) is checked against the free
    space first, for writers that crash instead of failing cleanly (h5py). `suffix` keeps the
    extension a writer insists on (`.weights.h5`, `.keras`).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if need_bytes:
            check_free_space(path, need_bytes, what)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:100]}.", suffix=suffix, dir=path.parent)
        os.close(fd)
    except OSError as e:
        raise write_error(path, e, what) from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp_path, _file_mode(path))
        faults.reached("write")
        os.replace(tmp_path, path)
    except AutoOrderError:
        _remove(tmp_path)
        raise
    except Exception as e:
        _remove(tmp_path)
        if isinstance(e, OSError) and e.errno in WRITE_ERRNOS:
            raise write_error(path, e, what) from None
        free = free_bytes(path.parent)
        if free is not None and free < max(need_bytes, MIB):  # a writer's own error type, on a full disk
            raise write_error(path, _enospc(), what) from None
        raise
    except BaseException:
        _remove(tmp_path)
        raise


def _umask() -> int:
    """The process umask, read without changing it (os.umask would, for every thread at once)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def _file_mode(path: Path) -> int:
    """The mode a plain `open(path, "w")` would give: the old file's, else 0o666 less the umask
    (mkstemp's own 0o600 would hide a best model from the rest of a team)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~_umask()


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


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


_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def special_kind(mode: int) -> str | None:
    """'a FIFO (named pipe)', 'a character device', ... for a file that is neither regular nor a folder."""
    return next((kind for test, kind in _KINDS if test(mode)), None)


@contextlib.contextmanager
def open_regular(
    path: str | Path, label: str, expected: str, error: type[AutoOrderError] = RunError, limit: int | None = None
) -> Iterator[int]:
    """A file descriptor of a regular file, or `error` naming the file and what it is instead.

    Opened without blocking and checked with fstat on the open file (no race with a swap): a
    FIFO, a device or a socket is refused instead of blocking forever or reading without end.
    """
    path = Path(path)
    where = f"{label} {str(path)!r}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise error(f"{where} does not exist. Expected {expected}.") from None
    except ValueError:  # an embedded NUL byte
        raise error(f"{where} is not a valid path (it holds a NUL byte). Expected {expected}.") from None
    except OSError as e:
        try:  # a socket cannot even be opened: say what it is
            kind = special_kind(os.stat(path).st_mode)
        except OSError:
            kind = None
        problem = f"is {kind}, not a regular file" if kind else f"cannot be read: {e.strerror or e}"
        raise error(f"{where} {problem}. Expected {expected}.") from None
    try:
        try:
            st = os.fstat(fd)
        except OSError as e:
            raise error(f"{where} cannot be read: {e.strerror or e}. Expected {expected}.") from None
        if stat.S_ISDIR(st.st_mode):
            raise error(f"{where} is a folder. Expected {expected}.")
        kind = special_kind(st.st_mode)
        if kind:
            raise error(f"{where} is {kind}, not a regular file. Expected {expected}.")
        if limit is not None and st.st_size > limit:
            raise error(f"{where} is {st.st_size:,} bytes; more than {limit:,} is refused. Expected {expected}.")
        yield fd
    finally:
        os.close(fd)


def check_regular(path: str | Path, label: str, expected: str, error: type[AutoOrderError] = RunError) -> None:
    """`error` unless `path` is a regular file (for files another library opens itself)."""
    with open_regular(path, label, expected, error):
        pass


def read_regular(
    path: str | Path, label: str, expected: str, error: type[AutoOrderError] = RunError, limit: int | None = None
) -> bytes:
    """The bytes of a regular file (see `open_regular`), at most `limit` of them."""
    where = f"{label} {str(path)!r}"
    with open_regular(path, label, expected, error, limit) as fd:
        chunks, size = [], 0
        try:
            while True:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    return b"".join(chunks)
                size += len(chunk)
                if limit is not None and size > limit:  # grew while being read
                    raise error(f"{where} is more than {limit:,} bytes. Expected {expected}.")
                chunks.append(chunk)
        except OSError as e:
            raise error(f"{where} cannot be read: {e.strerror or e}. Expected {expected}.") from None


def read_json(path: str | Path, what: str = "file") -> Any:
    path = Path(path)
    data = read_regular(path, f"The {what}", "a JSON file written by autoorder")
    try:
        return json.loads(data.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        problem = "nested too deeply" if isinstance(e, RecursionError) else str(e)
        raise RunError(
            f"The {what} {str(path)!r} is corrupt ({problem}). Restore it from a backup, or rerun with --overwrite."
        ) from None


def needs_escape(value: Any) -> bool:
    """A text cell a spreadsheet would run as a formula: it starts with = + - @ or a tab/CR and is not a number."""
    return isinstance(value, str) and value.startswith(FORMULA_START) and not _NUMBER.fullmatch(value)


def escape_cell(value: Any) -> Any:
    """Neutralise cells a spreadsheet would run as formulas (CSV injection); numbers such as `-1` stay."""
    return "'" + value if needs_escape(value) else value


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
    make_folder(folder, f"{what} folder")
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


@contextlib.contextmanager
def exclusive(lock: str | Path, on_wait: Callable[[], None] | None = None, poll: float = 0.25) -> Iterator[None]:
    """Hold an exclusive lock on the file `lock` (created if missing), waiting while another process holds it.

    What several processes would otherwise each compute (decoded pixels, a backbone pass) is
    computed by the first to take the lock; the others wait here, then find it done. The lock is
    an flock: the kernel drops it when its holder dies, even by kill -9, so a dead holder never
    blocks the others (on NFS, Linux maps it to a POSIX lock held through the server). Where the
    filesystem has no locks at all, everyone goes on unlocked: work may be done twice, never torn,
    since what is published is renamed into place whole. `on_wait` is called once if it waits.
    """
    lock = Path(lock)
    make_folder(lock.parent, "cache folder")
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as e:
        raise write_error(lock, e, "a lock file") from None
    try:
        waited = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited and on_wait is not None:
                    on_wait()
                waited = True
                time.sleep(poll)
            except OSError:  # no locks on this filesystem: unlocked (see above)
                break
        yield
    finally:
        os.close(fd)


def remove_leftovers(folder: str | Path, pattern: str) -> int:
    """Delete files matching `pattern` in `folder` (temporary files of a writer killed mid-write,
    removed by whoever holds the lock they were written under); the number removed."""
    n = 0
    for p in Path(folder).glob(pattern):
        with contextlib.suppress(OSError):
            p.unlink()
            n += 1
    return n


def clear_folder(folder: Path) -> None:
    """Remove everything inside `folder` but keep the folder itself (and so the lock held on it)."""
    try:
        for child in Path(folder).iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    except OSError as e:
        raise write_error(folder, e, folder=folder, head=f"Cannot clear the folder {str(folder)!r} for --overwrite") from None
