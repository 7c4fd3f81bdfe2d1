"""tf.data pipelines over decoded pixels and cached features, with no Python in the loop.

- Features beyond `cache.memory_mb` live on disk as shard files (`Shards`), a few MiB each, split
  by split (train, val, test), and are read with `tf.io.read_file` on TensorFlow's threads:
  no generator, no GIL. Every epoch reads the shards in a new order drawn from the trial's seed,
  and mixes their rows through a shuffle buffer (`SHUFFLE_ROWS`), so batches change from epoch to
  epoch and follow the seed. Measured (benchmarks/scale): as fast per sample as from memory
  within the factor the README gives.
- Features in memory are one tensor per split, reshuffled every epoch (a full permutation).
- Decoded pixels memory-mapped from disk (`autoorder.data.pixels`) are read by TensorFlow's file
  reader: the backbone pass streams the whole file in order; a split's rows (a trial that trains
  the whole backbone, the test predictions) are read as runs of consecutive rows.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from autoorder.core.fileio import write_json

SHARD_BYTES = 4 * 2**20  # one file read per this much data: large reads, many shards to shuffle
SHUFFLE_ROWS = 4096  # rows mixed across shards (a split this small is shuffled whole)
SHUFFLE_BYTES = 64 * 2**20  # ... and at most this much memory for the mixing buffer
RUN_ROWS = 256  # at most this many consecutive pixel rows per read
META = "meta.json"
DTYPES = {"float32": np.float32, "float16": np.float16, "uint8": np.uint8}


# ----- shards: features on disk -----------------------------------------------------------------
@dataclass(frozen=True)
class ShardInfo:
    row_shape: tuple[int, ...]
    dtype: str
    shard_rows: int
    splits: tuple[tuple[str, int], ...]  # (name, rows) in file order

    @property
    def row_bytes(self) -> int:
        return int(np.prod(self.row_shape)) * np.dtype(DTYPES[self.dtype]).itemsize

    def shards(self, split: str) -> list[str]:
        rows = dict(self.splits)[split]
        return [f"{split}-{k:05d}.bin" for k in range(-(-rows // self.shard_rows))]


def shard_rows_for(row_shape: tuple[int, ...], dtype: str) -> int:
    row = int(np.prod(row_shape)) * np.dtype(DTYPES[dtype]).itemsize
    return max(1, SHARD_BYTES // max(row, 1))


class ShardWriter:
    """Writes rows, by position in split order, into the shard files of a new folder."""

    def __init__(self, folder: Path, info: ShardInfo):
        self.folder, self.info = Path(folder), info
        self.folder.mkdir(parents=True, exist_ok=True)
        self.maps: list[np.memmap] = []
        self.starts: list[int] = []  # first position of each shard
        pos = 0
        for split, rows in info.splits:
            for k, name in enumerate(info.shards(split)):
                n = min(info.shard_rows, rows - k * info.shard_rows)
                self.maps.append(np.memmap(self.folder / name, dtype=DTYPES[info.dtype], mode="w+", shape=(n, *info.row_shape)))
                self.starts.append(pos)
                pos += n
        self._starts = np.array(self.starts, dtype=np.int64)

    def write(self, positions: np.ndarray, rows: np.ndarray) -> None:
        shard = np.searchsorted(self._starts, positions, side="right") - 1
        for g in np.unique(shard):
            sel = shard == g
            self.maps[g][positions[sel] - self.starts[g]] = rows[sel]

    def close(self) -> None:
        for m in self.maps:
            m.flush()
        self.maps = []
        write_json(self.folder / META, {
            "version": 1, "row_shape": list(self.info.row_shape), "dtype": self.info.dtype,
            "shard_rows": self.info.shard_rows, "splits": [list(s) for s in self.info.splits],
        })


def read_info(folder: Path) -> ShardInfo | None:
    """The shards' description; None when the folder is not a whole set of shards."""
    try:
        meta = json.loads((Path(folder) / META).read_text(encoding="utf-8"))
        info = ShardInfo(tuple(int(d) for d in meta["row_shape"]), str(meta["dtype"]), int(meta["shard_rows"]),
                         tuple((str(s), int(n)) for s, n in meta["splits"]))
        for split, rows in info.splits:
            names = info.shards(split)
            for k, name in enumerate(names):
                n = min(info.shard_rows, rows - k * info.shard_rows)
                if os.path.getsize(Path(folder) / name) != n * info.row_bytes:
                    return None
        return info
    except (OSError, ValueError, KeyError, TypeError):
        return None


class Shards:
    """Rows on disk as shards (see the module docstring)."""

    def __init__(self, folder: Path, info: ShardInfo):
        self.folder, self.info = Path(folder), info

    def split_array(self, split: str, limit: int | None = None) -> np.ndarray:
        """The first `limit` rows (all by default) of one split, read into memory."""
        rows = dict(self.info.splits)[split] if limit is None else min(limit, dict(self.info.splits)[split])
        out = np.empty((rows, *self.info.row_shape), dtype=DTYPES[self.info.dtype])
        done = 0
        for name in self.info.shards(split):
            if done >= rows:
                break
            part = np.fromfile(self.folder / name, dtype=DTYPES[self.info.dtype]).reshape(-1, *self.info.row_shape)
            take = min(len(part), rows - done)
            out[done : done + take] = part[:take]
            done += take
        return out

    def dataset(self, split: str, extras: tuple[np.ndarray, ...], shuffle: bool, seed: int) -> tf.data.Dataset:
        """Unbatched (row, *extras) of one split; shards reordered and rows mixed every epoch from `seed`."""
        info = self.info
        names = info.shards(split)
        paths = tf.constant([str(self.folder / n) for n in names])
        starts = tf.constant(np.arange(len(names), dtype=np.int64) * info.shard_rows)
        extra = tuple(tf.constant(e) for e in extras)
        dtype = tf.as_dtype(DTYPES[info.dtype])
        shape = info.row_shape
        shards = tf.data.Dataset.from_tensor_slices((paths, starts))
        if shuffle:
            shards = shards.shuffle(len(names), seed=seed, reshuffle_each_iteration=True)

        def read(path: Any, start: Any) -> tuple:
            rows = tf.reshape(tf.io.decode_raw(tf.io.read_file(path), dtype), (-1, *shape))
            n = tf.shape(rows, out_type=tf.int64)[0]
            return (rows, *(e[start : start + n] for e in extra))

        ds = shards.map(read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).unbatch()
        if shuffle:
            buffer = max(1, min(SHUFFLE_ROWS, SHUFFLE_BYTES // max(info.row_bytes, 1)))
            ds = ds.shuffle(buffer, seed=seed + 1, reshuffle_each_iteration=True)
        return ds


# ----- pixels memory-mapped from a .npy file ----------------------------------------------------
def runs(slots: np.ndarray, limit: int = RUN_ROWS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first slot, count, first row) of each run of consecutive slots, cut at `limit` rows."""
    slots = np.asarray(slots, dtype=np.int64)
    bounds = np.r_[0, np.flatnonzero(np.diff(slots) != 1) + 1, len(slots)] if len(slots) else np.zeros(1, np.int64)
    firsts, counts = [], []
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        for s in range(a, b, limit):
            firsts.append(s)
            counts.append(min(limit, b - s))
    first = np.array(firsts, dtype=np.int64)
    return slots[first], np.array(counts, dtype=np.int64), first


def file_rows(path: Path, header: int, row_shape: tuple[int, ...], slots: np.ndarray, extras: tuple[np.ndarray, ...],
              shuffle: bool = False, seed: int = 0) -> tf.data.Dataset:
    """Unbatched (row, *extras) for `slots` of a .npy file of uint8 rows, in slot-run order
    (runs reordered and rows mixed every epoch when `shuffle`)."""
    row_bytes = int(np.prod(row_shape))
    size = os.path.getsize(path)
    first_slot, counts, first_row = runs(slots)
    extra = tuple(tf.constant(e) for e in extras)
    blocks = tf.data.Dataset.from_tensor_slices((first_slot, counts, first_row))
    if shuffle:
        blocks = blocks.shuffle(max(1, len(counts)), seed=seed, reshuffle_each_iteration=True)

    def read(slot: Any, count: Any, row: Any) -> tf.data.Dataset:
        data = tf.data.FixedLengthRecordDataset(
            str(path), count * row_bytes, header_bytes=header + slot * row_bytes,
            footer_bytes=size - header - (slot + count) * row_bytes, buffer_size=RUN_ROWS * row_bytes,
        )
        return data.map(lambda raw: (tf.reshape(tf.io.decode_raw(raw, tf.uint8), (-1, *row_shape)),
                                     *(e[row : row + count] for e in extra)))

    ds = blocks.interleave(read, cycle_length=4, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).unbatch()
    if shuffle:
        ds = ds.shuffle(max(1, min(SHUFFLE_ROWS, SHUFFLE_BYTES // max(row_bytes, 1))), seed=seed + 1, reshuffle_each_iteration=True)
    return ds


def file_scan(path: Path, header: int, row_shape: tuple[int, ...], slots: np.ndarray) -> tf.data.Dataset:
    """Unbatched (dataset row, pixels) of every row whose slot is in `slots`, reading the file once
    from start to end (the backbone pass: one sequential read, whatever the split)."""
    row_bytes = int(np.prod(row_shape))
    total = len(np.load(path, mmap_mode="r"))
    owner = np.full(total, -1, dtype=np.int64)
    owner[np.asarray(slots, dtype=np.int64)] = np.arange(len(slots), dtype=np.int64)
    data = tf.data.FixedLengthRecordDataset(
        str(path), row_bytes, header_bytes=header, footer_bytes=os.path.getsize(path) - header - total * row_bytes,
        buffer_size=max(row_bytes, 8 * 2**20),
    )
    ds = tf.data.Dataset.zip(tf.data.Dataset.from_tensor_slices(owner), data).filter(lambda row, raw: row >= 0)
    return ds.map(lambda row, raw: (row, tf.reshape(tf.io.decode_raw(raw, tf.uint8), row_shape)),
                  num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
