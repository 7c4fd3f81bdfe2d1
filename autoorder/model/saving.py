"""Model and weights files, written through the one atomic write path (`core.fileio.atomic_path`).

A kill mid-write leaves the previous file whole; a failed write leaves no temporary file; a
full disk, a read-only folder or a file in place of a folder becomes one `WriteError` naming
the folder. h5py can crash the whole process (SIGSEGV) when the disk fills mid-write, so the
free space is checked against an estimate of the file's size before h5py starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np

from autoorder.core.fileio import atomic_path

HDF5_PER_VARIABLE = 4096  # bytes of HDF5 bookkeeping per saved array (measured: ~2 KB)
HDF5_BASE = 64 * 1024


def _nbytes(variables: Any) -> tuple[int, int]:
    total, count = 0, 0
    for v in variables:
        try:
            itemsize = np.dtype(str(getattr(v.dtype, "name", v.dtype))).itemsize
        except TypeError:
            itemsize = 4
        total += int(np.prod(tuple(v.shape))) * itemsize
        count += 1
    return total, count


def estimated_bytes(model: keras.Model) -> int:
    """About how large `model.save_weights` / `model.save` will be: weights, optimizer state, HDF5 overhead."""
    weights, n = _nbytes(model.weights)
    optimizer = getattr(model, "optimizer", None)
    opt_bytes, m = _nbytes(getattr(optimizer, "variables", [])) if optimizer is not None else (0, 0)
    return int((weights + opt_bytes) * 1.1) + HDF5_PER_VARIABLE * (n + m) + HDF5_BASE


def save_weights_atomic(model: keras.Model, path: str | Path, what: str | None = None) -> None:
    """`model.save_weights`, atomic, after a free-space check (Keras insists on `.weights.h5`)."""
    with atomic_path(path, suffix=".weights.h5", need_bytes=estimated_bytes(model), what=what) as tmp:
        model.save_weights(tmp)


def save_model_atomic(model: keras.Model, path: str | Path, what: str | None = None) -> None:
    """`model.save` (a `.keras` file), atomic, after a free-space check."""
    with atomic_path(path, suffix=".keras", need_bytes=estimated_bytes(model), what=what) as tmp:
        model.save(tmp)
