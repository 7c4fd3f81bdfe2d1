"""Decoded pixels of a dataset: in memory when small, else in a memory-mapped file decoded once.

100,000 photos at 224 px are 15 GB of pixels. Past `IN_MEMORY_BYTES` they live in a .npy file
of the cache folder (`cache.dir`, by default RUN_DIR/cache), decoded once by parallel threads and
memory-mapped, so the resident anonymous memory of a search does not grow with the number of
photos (the page cache holds what is read, and gives it back under pressure). The file is named
after the content of every image file (the sha256 of its bytes) and the decoder's settings: a
resumed search, another run sharing `cache.dir` and the other workers of a distributed search
open it instead of decoding again. One process decodes while the others wait on a lock
(`fileio.exclusive`); the file is renamed into place only once whole, and the leftovers of a
decoder killed mid-way are removed by the next one. Content hashes are kept in an index
(`digests.json`) by path, size and modification time, so a file is hashed again only when it
changed, and a resumed search over 100,000 photos neither hashes nor decodes anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import weakref
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import PIL

from autoorder.core.fileio import (
    atomic_path,
    check_free_space,
    exclusive,
    read_json,
    remove_leftovers,
    write_json,
)
from autoorder.data.images import LoadReport, decode_file, decode_into, hash_files

IN_MEMORY_BYTES = 64 * 2**20  # decoded pixels up to this size stay in memory (small sets stay fast)
DECODER = f"pillow-{PIL.__version__}/1"  # what turns a file into pixels; part of the store's name
INDEX = "digests.json"
LOCK = "pixels.lock"

Progress = Callable[[int, int], None]


class Pixels:
    """uint8 pixels (n, size, size, 3) of a dataset's rows, in memory or memory-mapped.

    Indexing (an int, a slice, an index array) returns the rows asked for as an array in memory;
    `array` is every decoded slot (rows left out as bad keep theirs) and `slots` maps each row
    to its slot. `path` and `header_bytes` let a reader stream the file without Python
    (`autoorder.model.streams`).
    """

    def __init__(self, array: Any, slots: np.ndarray | None = None, path: Path | None = None):
        self.array = array
        self.slots = np.arange(len(array), dtype=np.int64) if slots is None else np.asarray(slots, dtype=np.int64)
        self.path = path

    dtype = np.dtype(np.uint8)
    ndim = 4

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.slots), *self.array.shape[1:])

    @property
    def image_size(self) -> int:
        return int(self.array.shape[1])

    @property
    def header_bytes(self) -> int:
        """Where the pixels start in `path` (the .npy header's length)."""
        return int(getattr(self.array, "offset", 0))

    def __len__(self) -> int:
        return len(self.slots)

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            return np.array(self._read(self.slots[[key]])[0])
        return self._read(self.slots[key])

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def _read(self, slots: np.ndarray) -> np.ndarray:
        slots = np.asarray(slots, dtype=np.int64).reshape(-1)
        if len(slots) and np.all(np.diff(slots) == 1):
            return np.array(self.array[slots[0] : slots[-1] + 1])  # one contiguous read
        order = np.argsort(slots, kind="stable")  # read a memory map in file order
        out = np.empty((len(slots), *self.array.shape[1:]), dtype=np.uint8)
        out[order] = self.array[slots[order]]
        return out

    def keep(self, mask: np.ndarray) -> "Pixels":
        """The same pixels without the rows where `mask` is False."""
        return type(self)(self.array, self.slots[np.asarray(mask, dtype=bool)], self.path)

    @property
    def in_memory(self) -> bool:
        return self.path is None


class LazyPixels(Pixels):
    """Pixels decoded on demand, one row at a time: for a check of every row that keeps none."""

    def __init__(self, paths: Sequence[Path], size: int, max_pixels: int, slots: np.ndarray | None = None):
        self.paths, self.size, self.max_pixels = list(paths), size, max_pixels
        self.array = np.empty((len(self.paths), size, size, 3), dtype=np.uint8)[:0]  # shape only
        self.slots = np.arange(len(self.paths), dtype=np.int64) if slots is None else np.asarray(slots, dtype=np.int64)
        self.path = None

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.slots), self.size, self.size, 3)

    @property
    def image_size(self) -> int:
        return self.size

    def _read(self, slots: np.ndarray) -> np.ndarray:
        out = np.zeros((len(slots), self.size, self.size, 3), dtype=np.uint8)
        for j, s in enumerate(np.asarray(slots).reshape(-1)):
            out[j] = decode_file(self.paths[s], self.size, self.max_pixels)[0]
        return out

    def keep(self, mask: np.ndarray) -> "LazyPixels":
        return LazyPixels(self.paths, self.size, self.max_pixels, self.slots[np.asarray(mask, dtype=bool)])


class _Discard:
    """Takes decoded rows and keeps none (checking every image without holding them)."""

    def __setitem__(self, key: Any, value: Any) -> None:
        pass


# ----- content hashes ----------------------------------------------------------------------------
class DigestIndex:
    """sha256 of image files by path, size and modification time (a file is hashed once while it
    stays as it is). Kept in the cache folder; a damaged index is ignored and rewritten."""

    def __init__(self, folder: Path | None):
        self.path = None if folder is None else Path(folder) / INDEX
        self.files: dict[str, list] = {}
        self.changed = False
        if self.path is not None and self.path.is_file():
            try:
                data = read_json(self.path, "Digest index")
                files = data.get("files") if isinstance(data, dict) and data.get("version") == 1 else None
                self.files = files if isinstance(files, dict) else {}
            except Exception:  # noqa: BLE001 - an unreadable index only costs hashing again
                self.files = {}

    def digests(self, paths: Sequence[Path]) -> list[str | None]:
        """The sha256 of each file (None when it cannot be read); unknown or changed files are hashed."""
        out: list[str | None] = [None] * len(paths)
        states: list[tuple[int, int] | None] = []
        todo = []
        for i, p in enumerate(paths):
            try:
                st = os.stat(p)
                state = (int(st.st_size), int(st.st_mtime_ns))
            except (OSError, ValueError):  # missing, or a NUL byte in the path: a bad row, said by decoding
                state = None
            states.append(state)
            known = self.files.get(str(p)) if state else None
            if known and (known[0], known[1]) == state:
                out[i] = known[2]
            elif state:
                todo.append(i)
        for i, digest in zip(todo, hash_files([paths[i] for i in todo])):
            out[i] = digest
            state = states[i]
            if digest is not None and state is not None:
                self.files[str(paths[i])] = [state[0], state[1], digest]
                self.changed = True
        return out

    def save(self) -> None:
        if self.path is not None and self.changed:
            write_json(self.path, {"version": 1, "files": self.files})
            self.changed = False


def store_key(digests: Sequence[str | None], size: int, max_pixels: int) -> str:
    """Names the decoded pixels of these files at this size: changes with any file's content."""
    h = hashlib.sha256(f"{DECODER}|{size}|{max_pixels}|".encode())
    for d in digests:
        h.update((d or "-").encode())
        h.update(b"\n")
    return h.hexdigest()[:24]


def _report_json(report: LoadReport) -> dict:
    return {"bad": report.bad, "conversions": report.conversions, "exif_rotated": report.exif_rotated}


def _open_store(folder: Path, key: str, n: int, size: int) -> tuple[Any, LoadReport] | None:
    """The decoded pixels named `key`, memory-mapped, and their load report; None if absent or damaged."""
    data, meta = folder / f"pixels-{key}.npy", folder / f"pixels-{key}.json"
    if not (data.is_file() and meta.is_file()):  # the report is written last: its presence means whole
        return None
    try:
        arr = np.load(data, mmap_mode="r")
        info = json.loads(meta.read_text(encoding="utf-8"))
        report = LoadReport(
            conversions=dict(info["conversions"]),
            exif_rotated=int(info["exif_rotated"]),
            bad=[(int(i), str(why)) for i, why in info["bad"]],
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if arr.shape != (n, size, size, 3) or arr.dtype != np.uint8:
        return None
    return arr, report


def decode_pixels(
    paths: Sequence[Path],
    size: int,
    max_pixels: int,
    *,
    folder: Path | None = None,
    keep: bool = True,
    progress: Progress | None = None,
    on_wait: Callable[[], None] | None = None,
    publish: Callable[[LoadReport], bool] = lambda report: True,
) -> tuple[Pixels, LoadReport, list[str | None]]:
    """Every image decoded at `size`: (pixels, load report, sha256 of each file).

    Small sets decode into memory. Larger ones decode into `folder` (shared, named by content;
    see the module docstring), or without a folder into a temporary file removed with the
    returned `Pixels`. `keep=False` checks every image and keeps none (decoded again on demand).
    `publish(report)` says whether a new store is kept for others (not when its rows will be
    refused anyway).
    """
    n = len(paths)
    need = n * size * size * 3
    if not keep:
        report = decode_into(paths, size, max_pixels, _Discard(), progress)
        return LazyPixels(paths, size, max_pixels), report, [report.digests.get(i) for i in range(n)]
    if need <= IN_MEMORY_BYTES:
        arr, report = np.zeros((n, size, size, 3), dtype=np.uint8), None
        report = decode_into(paths, size, max_pixels, arr, progress)
        return Pixels(arr), report, [report.digests.get(i) for i in range(n)]
    if folder is None:
        return _decode_to_temporary(paths, size, max_pixels, need, progress)
    folder = Path(folder)
    with exclusive(folder / LOCK, on_wait):
        index = DigestIndex(folder)
        digests = index.digests(paths)
        index.save()
        key = store_key(digests, size, max_pixels)
        found = _open_store(folder, key, n, size)
        if found is not None:
            return Pixels(found[0], path=folder / f"pixels-{key}.npy"), found[1], digests
        remove_leftovers(folder, ".pixels-*")  # a decoder killed mid-way (we hold the lock: nobody writes)
        final = folder / f"pixels-{key}.npy"
        with atomic_path(final, suffix=".npy", need_bytes=need, what="the decoded images") as tmp:
            arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, size, size, 3))
            report = decode_into(paths, size, max_pixels, arr, progress)
            arr.flush()
            del arr
        if not publish(report):
            final.unlink(missing_ok=True)
            return Pixels(np.zeros((0, size, size, 3), np.uint8)), report, digests
        write_json(folder / f"pixels-{key}.json", _report_json(report))
    return Pixels(np.load(final, mmap_mode="r"), path=final), report, digests


def _decode_to_temporary(paths: Sequence[Path], size: int, max_pixels: int, need: int, progress: Progress | None):
    fd, name = tempfile.mkstemp(prefix="autoorder-pixels-", suffix=".npy")
    os.close(fd)
    path = Path(name)
    try:
        check_free_space(path, need, "the decoded images")
        arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(len(paths), size, size, 3))
        report = decode_into(paths, size, max_pixels, arr, progress)
        arr.flush()
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    pixels = Pixels(np.load(path, mmap_mode="r"), path=path)
    weakref.finalize(pixels.array, path.unlink, missing_ok=True)  # removed with the last view of it
    return pixels, report, [report.digests.get(i) for i in range(len(paths))]
