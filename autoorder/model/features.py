"""One backbone pass per search: frozen activations computed once, reused by every trial.

`BackboneBank` builds each backbone once per (name, image size, weights) and keeps its initial
weights, so every trial starts from the same backbone and cached activations always match the
layers above them. `FeatureCache` runs the frozen prefix once over the whole dataset in
inference mode, filling every cut the search can ask for in that single pass, and keeps the
result in memory under a budget, spilling the rest to disk (memory-mapped).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np

from autoorder.core.config import FREEZE_ALL, FREEZE_NONE
from autoorder.core.errors import AutoOrderError, PluginError
from autoorder.core.fileio import check_free_space, make_folder
from autoorder.model.weights import set_weights

CACHE_VERSION = "1"
POOLED = FREEZE_ALL  # the cut "all" is the backbone's pooled output


@dataclass
class _Built:
    initial_weights: list
    fingerprint: str
    output_shape: tuple
    pristine: Any  # the first build, never trained: for inference only


class BackboneBank:
    """Fresh copies of a backbone, all with the same initial weights."""

    def __init__(self, registry: Any, weights: str | None, seed: int):
        self.registry = registry
        self.weights = weights
        self.seed = seed
        self._built: dict[tuple[str, int], _Built] = {}

    def plugin(self, name: str) -> Any:
        return self.registry.get_backbone(name)

    def build(self, name: str, image_size: int) -> keras.Model:
        """A fresh, trainable copy with the initial weights."""
        key = (name, image_size)
        if key not in self._built:
            self._first_build(name, image_size)
        model = self.plugin(name).build(image_size, None)
        set_weights(model, self._built[key].initial_weights)
        return model

    def _first_build(self, name: str, image_size: int) -> None:
        keras.utils.set_random_seed(self.seed)
        model = self.plugin(name).build(image_size, self.weights)
        _check_model(model, name, image_size)
        weights = model.get_weights()
        h = hashlib.sha256()
        h.update(f"{CACHE_VERSION}|{name}|{image_size}|".encode())
        h.update(model.to_json().encode())
        for w in weights:
            h.update(np.ascontiguousarray(w).tobytes())
        shape = tuple(int(d) for d in model.output.shape[1:])
        self._built[(name, image_size)] = _Built(weights, h.hexdigest()[:16], shape, model)

    def pristine(self, name: str, image_size: int) -> keras.Model:
        """The backbone with its initial weights, shared: only for inference (never train it)."""
        return self._info(name, image_size).pristine

    def _info(self, name: str, image_size: int) -> _Built:
        if (name, image_size) not in self._built:
            self._first_build(name, image_size)
        return self._built[(name, image_size)]

    def fingerprint(self, name: str, image_size: int) -> str:
        return self._info(name, image_size).fingerprint

    def pooled_shape(self, name: str, image_size: int) -> tuple:
        """Shape of the backbone output after global pooling (what `all` caches)."""
        shape = self._info(name, image_size).output_shape
        if len(shape) == 3:
            return (shape[-1],)
        return (int(np.prod(shape)),)


def _check_model(model: Any, name: str, image_size: int) -> None:
    if not isinstance(model, keras.Model):
        raise PluginError(
            f"Backbone {name!r}: build({image_size}, weights) must return a keras.Model. Got {type(model).__name__} instead."
        )


def prefix_outputs(model: keras.Model, cuts: list[str]) -> list:
    """Output tensors of the frozen prefix for each cut (`all` = pooled backbone output)."""
    outs = []
    for cut in cuts:
        if cut == POOLED:
            x = model.output
            if len(x.shape) == 4:
                x = keras.layers.GlobalAveragePooling2D(name="cache_pool")(x)
            outs.append(x)
        else:
            outs.append(model.get_layer(cut).output)
    return outs


DEGENERATE_SPREAD = 1e-6  # features that vary less than this between images carry nothing


def feature_spread(features: np.ndarray, sample: int = 256) -> float:
    """Mean over features of their standard deviation over (the first `sample`) images."""
    head = np.asarray(features[:sample], dtype=np.float64).reshape(min(len(features), sample), -1)
    return float(head.std(axis=0).mean()) if len(head) > 1 else float("inf")


def degenerate_warning(name: str, found: list[tuple[str, float]]) -> str:
    """One line for the degenerate cuts (cut, spread) of one backbone."""
    cuts = ", ".join(f"{cut!r}" for cut, _ in found)
    spread = max(sp for _, sp in found)
    return (
        f"{name} features at {cuts} hardly differ between images (mean standard deviation {spread:.1e}), so "
        "trials frozen there cannot learn from the image. A Keras application built with weights: null "
        "(random weights, run in inference mode) gives such features; give pretrained weights, or let trials "
        "train the backbone."
    )


def degenerate_cuts(bank: Any, name: str, image_size: int, cuts: list[str], images: np.ndarray) -> list[tuple[str, float]]:
    """(cut, spread) of each cut whose features on `images` (a small sample) carry nothing."""
    model = bank.pristine(name, image_size)
    extractor = keras.Model(model.inputs, prefix_outputs(model, cuts), name=f"{name}_probe")
    outs = extractor.predict_on_batch(np.asarray(images, dtype=np.float32))
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    spreads = [(cut, feature_spread(np.asarray(o))) for cut, o in zip(cuts, outs)]
    return [(cut, sp) for cut, sp in spreads if sp < DEGENERATE_SPREAD]


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


@dataclass
class FeatureCache:
    """Activations at cut points, keyed by everything that could change them.

    Attributes:
        passes: backbone passes over the dataset, by (backbone, fingerprint, image size).
    """

    memory_mb: int = 2048
    spill_dir: Path | None = None
    progress: Callable[[str], None] | None = None
    batch_size: int = 64
    progress_seconds: float = 15.0  # at most one progress line this often during a backbone pass
    passes: dict = field(default_factory=dict)
    fill_seconds: float = 0.0
    _store: dict = field(default_factory=dict)
    _memory_bytes: int = 0

    def key(self, fingerprint: str, data_fingerprint: str, cut: str) -> str:
        raw = json.dumps([CACHE_VERSION, fingerprint, data_fingerprint, cut])
        return hashlib.sha256(raw.encode()).hexdigest()[:24]

    def get(
        self,
        bank: BackboneBank,
        name: str,
        image_size: int,
        cut: str,
        images: np.ndarray,
        data_fingerprint: str,
        fill_cuts: list[str],
    ) -> np.ndarray:
        """Activations at `cut` for every image; the first miss fills all of `fill_cuts` at once."""
        if cut == FREEZE_NONE:
            raise AutoOrderError("freeze 'none' trains the whole backbone: there is nothing to cache")
        fp = bank.fingerprint(name, image_size)
        k = self.key(fp, data_fingerprint, cut)
        if k in self._store:
            return self._store[k]
        disk = self._disk_path(k)
        if disk is not None and disk.is_file():  # not a FIFO or a folder in its place
            try:
                self._store[k] = np.load(disk, mmap_mode="r")
                return self._store[k]
            except (OSError, ValueError, EOFError):  # a damaged spill file: computed again and replaced
                pass
        cuts = [c for c in dict.fromkeys([*fill_cuts, cut]) if c != FREEZE_NONE]
        missing = [c for c in cuts if self.key(fp, data_fingerprint, c) not in self._store]
        self._fill(bank, name, image_size, missing, images, data_fingerprint, fp)
        return self._store[k]

    def _disk_path(self, k: str) -> Path | None:
        return None if self.spill_dir is None else Path(self.spill_dir) / f"features-{k}.npy"

    def _fill(self, bank, name, image_size, cuts, images, data_fp, fp) -> None:
        t0 = time.perf_counter()
        model = bank.pristine(name, image_size)
        extractor = keras.Model(model.inputs, prefix_outputs(model, cuts), name=f"{name}_prefix")
        n = len(images)
        shapes = [tuple(int(d) for d in t.shape[1:]) for t in extractor.outputs]
        budget = self.memory_mb * 2**20 - self._memory_bytes
        arrays = []
        # Deep cuts are small: keep them in memory first, spill the large shallow ones.
        order = sorted(range(len(cuts)), key=lambda i: int(np.prod(shapes[i])))
        placed: dict[int, Any] = {}
        spill: list[tuple[int, Path]] = []
        for i in order:
            nbytes = n * int(np.prod(shapes[i])) * 4
            k = self.key(fp, data_fp, cuts[i])
            if nbytes <= budget or self.spill_dir is None:
                placed[i] = np.empty((n, *shapes[i]), dtype=np.float32)
                budget -= nbytes
                self._memory_bytes += nbytes
            else:
                path = self._disk_path(k)
                # Per process: workers of a distributed search on one host share the spill folder.
                spill.append((i, path.with_suffix(f".{os.getpid()}.partial.npy")))
        if spill:
            # A memory map on a full disk dies with SIGBUS on the first page it cannot back; its
            # pages are allocated only when written, so every spilled cut must fit before any starts.
            make_folder(spill[0][1].parent, "feature cache folder")
            check_free_space(spill[0][1], sum(n * int(np.prod(shapes[i])) * 4 for i, _ in spill), "the feature cache")
        for i, tmp in spill:
            placed[i] = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, *shapes[i]))
        arrays = [placed[i] for i in range(len(cuts))]
        if self.progress:
            self.progress(f"caching {name} features at {', '.join(cuts)} for {n} images (one backbone pass)")
        started = last = time.perf_counter()
        for start in range(0, n, self.batch_size):
            batch = images[start : start + self.batch_size].astype(np.float32)
            outs = extractor.predict_on_batch(batch)
            if not isinstance(outs, (list, tuple)):
                outs = [outs]
            for arr, out in zip(arrays, outs):
                arr[start : start + len(batch)] = np.asarray(out)
            now, done = time.perf_counter(), start + len(batch)
            if self.progress and done < n and now - last >= self.progress_seconds:
                last = now
                rate = done / max(now - started, 1e-9)
                self.progress(
                    f"caching {name} features: {done}/{n} images ({100 * done // n}%), {rate:.0f} images/s, "
                    f"about {_duration((n - done) / rate)} left"
                )
        if self.progress:
            took = time.perf_counter() - started
            self.progress(f"cached {name} features for {n} images in {_duration(took)} ({n / max(took, 1e-9):.0f} images/s)")
        pass_key = (name, fp, image_size)
        self.passes[pass_key] = self.passes.get(pass_key, 0) + 1
        self.fill_seconds += time.perf_counter() - t0
        for i, cut in enumerate(cuts):
            k = self.key(fp, data_fp, cut)
            arr = arrays[i]
            if isinstance(arr, np.memmap):
                arr.flush()
                tmp = Path(arr.filename)
                del arr
                arrays[i] = None
                final = self._disk_path(k)
                tmp.replace(final)
                self._store[k] = np.load(final, mmap_mode="r")
            else:
                self._store[k] = arr

    def total_passes(self) -> int:
        return sum(self.passes.values())

    def clear(self) -> None:
        self._store.clear()
        self._memory_bytes = 0
