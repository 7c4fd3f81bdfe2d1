"""One backbone pass per search: frozen activations computed once, reused by every trial.

`BackboneBank` builds each backbone once per (name, image size, weights) and keeps its initial
weights, so every trial starts from the same backbone and cached activations always match the
layers above them. `FeatureCache` runs the frozen prefix once over the whole dataset in
inference mode, fed by tf.data (pixels read and batched on TensorFlow's threads, prefetched, so
the model never waits for them), filling every cut the search can ask for in that single pass.

With a cache folder, the pass writes shard files there (`autoorder.model.streams`), split by
split, and renames them into place only when whole; cuts that fit `cache.memory_mb` are then
read into memory, the others are streamed from disk by every trial. One process makes the pass
while the others (the workers of a distributed search, on one host or several sharing the
folder) wait on a lock and then read it; a process killed mid-pass leaves only a partial folder,
removed by the next one to take the lock, which makes the pass again. Each pass is recorded in a
ledger folder, so a distributed search counts passes over all its workers.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf

from autoorder.compat.keras import fused_batchnorm_inference
from autoorder.core import faults
from autoorder.core.config import FREEZE_ALL, FREEZE_NONE
from autoorder.core.errors import AutoOrderError, PluginError
from autoorder.core.fileio import check_free_space, exclusive, make_folder, read_json, write_json
from autoorder.data.pixels import Pixels
from autoorder.model import streams
from autoorder.model.weights import set_weights

CACHE_VERSION = "2"
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


@dataclass(frozen=True)
class Layout:
    """The order features are stored in: each split's rows together, in dataset order within it."""

    order: np.ndarray  # position -> dataset row
    splits: tuple[tuple[str, int], ...]  # (split, rows), in storage order

    @classmethod
    def of(cls, split: np.ndarray, names: tuple[str, ...] = ("train", "val", "test")) -> "Layout":
        parts = [np.flatnonzero(split == s) for s in names]
        return cls(np.concatenate(parts).astype(np.int64), tuple((s, len(p)) for s, p in zip(names, parts)))

    @classmethod
    def whole(cls, n: int) -> "Layout":
        return cls(np.arange(n, dtype=np.int64), (("all", n),))

    def key(self) -> str:
        h = hashlib.sha256(json.dumps(self.splits).encode())
        h.update(np.ascontiguousarray(self.order).tobytes())
        return h.hexdigest()[:16]

    def start(self, split: str) -> int:
        out = 0
        for name, rows in self.splits:
            if name == split:
                return out
            out += rows
        raise KeyError(split)


class FeatureSet:
    """Activations at one cut for every row, in `layout` order: in memory (a tensor per split) or
    on disk (`streams.Shards`). Indexing by dataset row gives float32 arrays."""

    def __init__(self, layout: Layout, row_shape: tuple, dtype: str, tensors: dict | None = None, shards: Any = None):
        self.layout, self.row_shape, self.dtype = layout, tuple(row_shape), dtype
        self.tensors, self.shards = tensors, shards
        self._position = np.empty(len(layout.order), dtype=np.int64)
        self._position[layout.order] = np.arange(len(layout.order))

    @property
    def shape(self) -> tuple:
        return (len(self.layout.order), *self.row_shape)

    def __len__(self) -> int:
        return len(self.layout.order)

    @property
    def in_memory(self) -> bool:
        return self.tensors is not None

    @property
    def nbytes(self) -> int:
        return len(self) * int(np.prod(self.row_shape)) * np.dtype(streams.DTYPES[self.dtype]).itemsize

    def split_rows(self, split: str, limit: int | None = None) -> np.ndarray:
        """The first `limit` rows of a split (all by default), float32."""
        if self.tensors is not None:
            t = self.tensors[split]
            return np.asarray(t[: limit if limit is not None else len(t)]).astype(np.float32)
        return self.shards.split_array(split, limit).astype(np.float32)

    def __getitem__(self, rows: Any) -> np.ndarray:
        pos = self._position[rows]
        scalar = np.ndim(pos) == 0
        pos = np.atleast_1d(pos)
        out = np.empty((len(pos), *self.row_shape), dtype=np.float32)
        start = 0
        for split, n in self.layout.splits:
            sel = (pos >= start) & (pos < start + n)
            if sel.any():
                local = pos[sel] - start
                if self.tensors is not None:
                    out[sel] = tf.gather(self.tensors[split], local).numpy()
                else:
                    out[sel] = self._from_shards(split, local)
            start += n
        return out[0] if scalar else out

    def _from_shards(self, split: str, local: np.ndarray) -> np.ndarray:
        info = self.shards.info
        out = np.empty((len(local), *self.row_shape), dtype=np.float32)
        names = info.shards(split)
        for k in np.unique(local // info.shard_rows):
            sel = local // info.shard_rows == k
            rows = np.memmap(self.shards.folder / names[k], dtype=streams.DTYPES[info.dtype], mode="r").reshape(-1, *self.row_shape)
            out[sel] = rows[local[sel] - k * info.shard_rows]
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[np.arange(len(self))]
        return out if dtype is None else out.astype(dtype)

    def dataset(self, split: str, extras: tuple[np.ndarray, ...], shuffle: bool, seed: int) -> Any:
        """Unbatched (features, *extras) of one split, in the stored dtype (see `streams`)."""
        if self.tensors is not None:
            t = self.tensors[split]
            ds = tf.data.Dataset.from_tensor_slices((t, *(tf.constant(e) for e in extras)))
            return ds.shuffle(max(1, len(t)), seed=seed, reshuffle_each_iteration=True) if shuffle else ds
        return self.shards.dataset(split, extras, shuffle, seed)


def as_pixels(images: Any) -> Pixels:
    """Decoded pixels as `Pixels` (an array of uint8 images is wrapped as it is)."""
    return images if isinstance(images, Pixels) else Pixels(np.asarray(images, dtype=np.uint8))


def pixel_scan(pixels: Pixels) -> Any:
    """Unbatched (dataset row, uint8 image) of every row, read in storage order (one pass)."""
    if pixels.path is None:
        rows = np.arange(len(pixels), dtype=np.int64)
        return tf.data.Dataset.from_tensor_slices((rows, pixels[:]))
    return streams.file_scan(pixels.path, pixels.header_bytes, tuple(pixels.array.shape[1:]), pixels.slots)


def count_passes(ledger: Path | None) -> tuple[int, float]:
    """(backbone passes, their seconds) recorded in a ledger folder by every process of a search."""
    passes, seconds = 0, 0.0
    for p in sorted(Path(ledger).glob("pass-*.json")) if ledger is not None and Path(ledger).is_dir() else []:
        try:
            seconds += float(read_json(p, "Backbone pass record").get("seconds", 0.0))
            passes += 1
        except Exception:  # noqa: BLE001 - a torn record still counts as a pass
            passes += 1
    return passes, seconds


@dataclass
class FeatureCache:
    """Activations at cut points, keyed by everything that could change them.

    Attributes:
        passes: backbone passes over the dataset made by this process, by (backbone, fingerprint, image size).
        dtype: how features are stored (`cache.dtype`): float32, or float16 (half the memory and disk).
        ledger: a folder where each pass is recorded (the passes of all workers of a search).
    """

    memory_mb: int = 2048
    spill_dir: Path | None = None
    progress: Callable[[str], None] | None = None
    batch_size: int = 64
    progress_seconds: float = 15.0  # at most one progress line this often during a backbone pass
    dtype: str = "float32"
    ledger: Path | None = None
    passes: dict = field(default_factory=dict)
    fill_seconds: float = 0.0
    _store: dict = field(default_factory=dict)
    _memory_bytes: int = 0

    def key(self, fingerprint: str, data_fingerprint: str, cut: str, layout: Layout | None = None) -> str:
        raw = json.dumps([CACHE_VERSION, fingerprint, data_fingerprint, cut, self.dtype, layout.key() if layout else None])
        return hashlib.sha256(raw.encode()).hexdigest()[:24]

    def get(
        self,
        bank: BackboneBank,
        name: str,
        image_size: int,
        cut: str,
        images: Any,
        data_fingerprint: str,
        fill_cuts: list[str],
        layout: Layout | None = None,
    ) -> FeatureSet:
        """Activations at `cut` for every image; the first miss fills all of `fill_cuts` at once."""
        if cut == FREEZE_NONE:
            raise AutoOrderError("freeze 'none' trains the whole backbone: there is nothing to cache")
        pixels = as_pixels(images)
        layout = layout or Layout.whole(len(pixels))
        fp = bank.fingerprint(name, image_size)
        k = self.key(fp, data_fingerprint, cut, layout)
        if k in self._store:
            return self._store[k]
        cuts = [c for c in dict.fromkeys([*fill_cuts, cut]) if c != FREEZE_NONE]
        keys = {c: self.key(fp, data_fingerprint, c, layout) for c in cuts}
        if self.spill_dir is None:
            missing = [c for c in cuts if keys[c] not in self._store]
            for c, (shape, arr) in self._fill(bank, name, image_size, missing, pixels, layout, fp).items():
                tensors, start = {}, 0
                for split, n in layout.splits:
                    tensors[split] = tf.constant(arr[start : start + n])
                    start += n
                self._store[keys[c]] = FeatureSet(layout, shape, self.dtype, tensors=tensors)
            return self._store[k]
        folder = Path(self.spill_dir)
        pass_key = hashlib.sha256(f"{fp}|{data_fingerprint}|{layout.key()}|{self.dtype}".encode()).hexdigest()[:16]
        waiting = (lambda: self.progress(f"waiting for another process's {name} backbone pass (cache {folder})")) if self.progress else None
        with exclusive(folder / f"pass-{pass_key}.lock", waiting):
            missing = [c for c in cuts if streams.read_info(folder / f"features-{keys[c]}") is None]
            if missing:
                self._fill_to_disk(bank, name, image_size, missing, pixels, layout, fp, {c: keys[c] for c in missing}, pass_key)
        # Deep cuts are small: keep them in memory first, stream the large shallow ones.
        infos = {c: streams.read_info(folder / f"features-{keys[c]}") for c in cuts}
        for c in sorted(cuts, key=lambda c: infos[c].row_bytes):
            if keys[c] not in self._store:
                self._store[keys[c]] = self._open(folder / f"features-{keys[c]}", infos[c], layout)
        return self._store[k]

    def ready(self, bank: BackboneBank, name: str, image_size: int, cut: str, data_fingerprint: str, layout: Layout) -> bool:
        """Whether `get` would return this cut without a backbone pass: held here, or whole on disk."""
        if cut == FREEZE_NONE:
            return False
        k = self.key(bank.fingerprint(name, image_size), data_fingerprint, cut, layout)
        if k in self._store:
            return True
        return self.spill_dir is not None and streams.read_info(Path(self.spill_dir) / f"features-{k}") is not None

    def _open(self, folder: Path, info: Any, layout: Layout) -> FeatureSet:
        shards = streams.Shards(folder, info)
        nbytes = len(layout.order) * info.row_bytes
        if nbytes > self.memory_mb * 2**20 - self._memory_bytes:
            return FeatureSet(layout, info.row_shape, info.dtype, shards=shards)
        self._memory_bytes += nbytes
        tensors = {split: tf.constant(shards.split_array(split)) for split, _ in layout.splits}
        return FeatureSet(layout, info.row_shape, info.dtype, tensors=tensors)

    def _fill_to_disk(self, bank, name, image_size, cuts, pixels, layout, fp, keys: dict, pass_key: str) -> None:
        folder = Path(self.spill_dir)
        make_folder(folder, "feature cache folder")
        for old in folder.glob(f".pass-{pass_key}.*"):  # a pass killed mid-way (we hold the lock: nobody writes)
            shutil.rmtree(old, ignore_errors=True)
        partial = folder / f".pass-{pass_key}.{os.getpid()}.partial"
        shapes = self._shapes(bank, name, image_size, cuts)
        rows = len(layout.order)
        # Shard files are allocated as they are written: every cut must fit before any starts.
        check_free_space(partial / "x", sum(rows * int(np.prod(shapes[c])) * np.dtype(streams.DTYPES[self.dtype]).itemsize
                                            for c in cuts), "the feature cache")
        writers = {
            c: streams.ShardWriter(partial / keys[c], streams.ShardInfo(
                shapes[c], self.dtype, streams.shard_rows_for(shapes[c], self.dtype), layout.splits))
            for c in cuts
        }
        seconds = self._pass(bank, name, image_size, cuts, pixels, layout, fp, writers)
        for c in cuts:
            writers[c].close()
            final = folder / f"features-{keys[c]}"
            if final.exists():  # damaged (read_info refused it): replaced
                shutil.rmtree(final, ignore_errors=True)
            os.replace(partial / keys[c], final)
        shutil.rmtree(partial, ignore_errors=True)
        if self.ledger is not None:
            n = sum(self.passes.values())
            write_json(Path(self.ledger) / f"pass-{socket.gethostname()}-{os.getpid()}-{n}.json",
                       {"backbone": name, "cuts": cuts, "images": rows, "seconds": round(seconds, 3)})

    def _fill(self, bank, name, image_size, cuts, pixels, layout, fp) -> dict:
        """In memory (no cache folder): {cut: (row shape, array in layout order)}."""
        shapes = self._shapes(bank, name, image_size, cuts)
        arrays = {c: np.empty((len(layout.order), *shapes[c]), dtype=streams.DTYPES[self.dtype]) for c in cuts}

        class _Sink:
            def __init__(self, arr: np.ndarray):
                self.arr = arr

            def write(self, positions: np.ndarray, rows: np.ndarray) -> None:
                self.arr[positions] = rows

        self._pass(bank, name, image_size, cuts, pixels, layout, fp, {c: _Sink(arrays[c]) for c in cuts})
        return {c: (shapes[c], arrays[c]) for c in cuts}

    def _shapes(self, bank, name, image_size, cuts) -> dict:
        model = bank.pristine(name, image_size)
        return {c: tuple(int(d) for d in t.shape[1:]) for c, t in zip(cuts, prefix_outputs(model, cuts))}

    def _pass(self, bank, name, image_size, cuts, pixels: Pixels, layout: Layout, fp, sinks: dict) -> float:
        """One backbone pass over every image, each cut's activations written to its sink by position."""
        t0 = time.perf_counter()
        model = bank.pristine(name, image_size)
        extractor = keras.Model(model.inputs, prefix_outputs(model, cuts), name=f"{name}_prefix")
        size = pixels.image_size
        with fused_batchnorm_inference():  # the same features, ~25% less time a photo (compat.keras)
            call = tf.function(lambda x: extractor(tf.cast(x, tf.float32), training=False), autograph=False,
                               input_signature=[tf.TensorSpec((None, size, size, 3), tf.uint8)]).get_concrete_function()
        n = len(pixels)
        position = np.empty(n, dtype=np.int64)
        position[layout.order] = np.arange(n)
        store = streams.DTYPES[self.dtype]
        if self.progress:
            self.progress(f"caching {name} features at {', '.join(cuts)} for {n} images (one backbone pass)")
        started = last = time.perf_counter()
        done = 0
        for rows, batch in pixel_scan(pixels).batch(self.batch_size).prefetch(2):
            outs = call(batch)
            outs = outs if isinstance(outs, (list, tuple)) else [outs]
            pos = position[rows.numpy()]
            for c, out in zip(cuts, outs):
                sinks[c].write(pos, np.asarray(out).astype(store, copy=False))
            faults.reached("pass")
            done += len(pos)
            now = time.perf_counter()
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
        seconds = time.perf_counter() - t0
        self.fill_seconds += seconds
        return seconds

    def total_passes(self) -> int:
        return sum(self.passes.values())

    def clear(self) -> None:
        self._store.clear()
        self._memory_bytes = 0
