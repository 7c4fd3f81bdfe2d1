"""A manifest turned into arrays: decoded images, order values, label ids and the split.

Everything that can be checked before decoding is (the split, the memory or disk the decoded
images need); after decoding, the same file content on two rows is checked
(`autoorder.data.duplicates`). Pixels stay in memory only for small sets; larger ones are
memory-mapped from the cache folder (`autoorder.data.pixels`). The fingerprint that pins the
data of a run comes from the files' content hashes, orders, labels and split, never from the
decoded pixels.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from autoorder.core.config import Config
from autoorder.core.environment import available_memory
from autoorder.core.errors import DataError
from autoorder.data.duplicates import CROSS_LABEL, REPEATED, SHARED, DuplicateReport, check_duplicates
from autoorder.data.images import LoadReport
from autoorder.data.manifest import Manifest, Row, check_labels, read_manifest
from autoorder.data.pixels import DECODER, IN_MEMORY_BYTES, Pixels, decode_pixels
from autoorder.data.split import SPLITS, grouped_split
from autoorder.schema.results import DatasetSummary, SkippedRow

FINGERPRINT_KIND = "files-v1"  # the fingerprint hashes file contents (run.json before it: the pixels)


@dataclass
class Dataset:
    """All photos of a manifest, decoded at one image size.

    Attributes:
        pixels: uint8 (n, size, size, 3), in memory or memory-mapped (`Pixels`); `images` is
            the same object (indexing either gives arrays in memory).
        orders: int32 (n,), 0 = unknown.
        y: int32 (n,), index into `classes`.
        split: array of "train" / "val" / "test".
    """

    manifest: Manifest
    rows: list[Row]
    classes: list[str]
    pixels: Pixels
    orders: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    split: np.ndarray
    report: LoadReport
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)
    digests: list[str | None] = field(default_factory=list)  # sha256 of each row's file
    duplicates: DuplicateReport = field(default_factory=DuplicateReport)
    _fingerprint: str | None = field(default=None, repr=False)  # arrays are never changed after loading

    @property
    def images(self) -> Pixels:
        """The decoded pixels (the name older callers use): `images[idx]` gives uint8 arrays in memory."""
        return self.pixels

    @property
    def image_size(self) -> int:
        return self.pixels.image_size

    def indices(self, name: str) -> np.ndarray:
        return np.flatnonzero(self.split == name)

    def part(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        idx = self.indices(name)
        return self.pixels[idx], self.orders[idx], self.y[idx]

    def majority_baseline(self) -> dict:
        """Always answering the most frequent training label: the floor any model must beat."""
        train = self.y[self.indices("train")]
        label = int(np.bincount(train, minlength=len(self.classes)).argmax()) if len(train) else 0
        out: dict = {"label": self.classes[label]}
        for split in ("val", "test"):
            y = self.y[self.indices(split)]
            out[f"{split}_accuracy"] = float((y == label).mean()) if len(y) else None
        return out

    @property
    def order_vocabulary(self) -> list[int]:
        """Order values seen in the training split (statistics come from train only)."""
        tr = self.orders[self.indices("train")]
        return sorted(int(v) for v in np.unique(tr) if v > 0)

    def fingerprint(self) -> str:
        """Changes whenever an image file's content, an order, a label or the split change (resume key).

        From the files' sha256 (hashed once, see `autoorder.data.pixels`), not from the pixels:
        cheap whatever the number of photos."""
        if self._fingerprint is None:
            self._fingerprint = self._compute_fingerprint()
        return self._fingerprint

    def _compute_fingerprint(self) -> str:
        h = hashlib.sha256(f"{FINGERPRINT_KIND}|{self.image_size}|".encode())
        for d in self.digests or [None] * len(self.rows):
            h.update((d or "-").encode())
        h.update(self.orders.tobytes())
        h.update(self.y.tobytes())
        h.update("\n".join(self.split.tolist()).encode())
        return h.hexdigest()[:16]

    def content_key(self) -> str:
        """The fingerprint plus what turns files into pixels (the decoder): the key of cached features."""
        return f"{self.fingerprint()}|{DECODER}"

    def summary(self) -> DatasetSummary:
        counts = {s: int((self.split == s).sum()) for s in SPLITS}
        objs = {s: int(len(set(self.groups[self.split == s]))) for s in SPLITS}
        return DatasetSummary(
            manifest=str(self.manifest.path),
            images=int(len(self.rows)),
            objects=int(len(set(self.groups.tolist()))),
            classes=list(self.classes),
            images_per_split=counts,
            objects_per_split=objs,
            order_values_train=self.order_vocabulary,
            has_order=self.manifest.has_order,
            image_size=self.image_size,
            converted_images=dict(self.report.conversions),
            exif_rotated=self.report.exif_rotated,
            skipped_rows=[SkippedRow(line=ln, reason=r) for ln, r in self.skipped],
            fingerprint=self.fingerprint(),
            repeated_images=self.duplicates.counts[REPEATED],
            cross_label_images=self.duplicates.counts[CROSS_LABEL],
            shared_images=self.duplicates.counts[SHARED],
            warnings=list(self.duplicates.warnings),
        )

    def split_rows(self) -> list[list]:
        """Rows of split.csv (`schema.results.SPLIT_HEADER`): the file digest lets a refused resume name a changed image."""
        digests = self.digests or [None] * len(self.rows)
        return [
            [r.line, r.path, r.label, r.order, r.group, s, d or ""]
            for r, s, d in zip(self.rows, self.split.tolist(), digests)
        ]


def _bad_rows_error(manifest: Manifest, bad: list[tuple[Row, str]]) -> DataError:
    lines = [f"  line {r.line}: {r.path}: {why}" for r, why in bad[:20]]
    more = f"\n  ... and {len(bad) - 20} more" if len(bad) > 20 else ""
    return DataError(
        f"Manifest {str(manifest.path)!r}: {len(bad)} image(s) cannot be used:\n"
        + "\n".join(lines)
        + more
        + "\nFix or remove those rows, or set data.on_bad_image: skip to leave them out."
    )


def _gib(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n / 2**10:.0f} KiB"


def check_memory(manifest: Manifest, n: int, size: int) -> None:
    """Refuse, before decoding, images that cannot fit in memory once decoded (sets small enough
    to be held in memory; larger ones are memory-mapped from disk, whose free space is checked)."""
    need = n * size * size * 3
    if need > IN_MEMORY_BYTES:
        return
    free = available_memory()
    if free is not None and need > free:
        raise DataError(
            f"Manifest {str(manifest.path)!r}: its {n:,} images decoded at {size}x{size} px need about {_gib(need)} "
            f"of memory ({n:,} x {size} x {size} x 3 bytes), but only {_gib(free)} is available. Expected data "
            "that fits: lower data.image_size, or use fewer rows."
        )


def resplit(data: Dataset, val: float, test: float, seed: int) -> Dataset:
    """The same decoded photos with another grouped, stratified split (a benchmark's outer repeats)."""
    groups = [r.group for r in data.rows]
    assignment = grouped_split(groups, [r.label for r in data.rows], val, test, seed, str(data.manifest.path))
    return dataclasses.replace(data, split=np.array([assignment[g] for g in groups]), _fingerprint=None)


def load_dataset(
    cfg: Config,
    progress: Callable[[int, int], None] | None = None,
    *,
    cache_dir: str | Path | None = None,
    keep_pixels: bool = True,
    on_wait: Callable[[], None] | None = None,
) -> Dataset:
    """Read the manifest, check what can be checked, decode every image, check duplicates, split by object.

    Args:
        cache_dir: where decoded pixels of a large set are kept and shared (a search's cache
            folder); without one they go to a temporary file. Small sets stay in memory.
        keep_pixels: False checks every image without keeping any (decoded again on demand).
        on_wait: called once if another process is decoding into `cache_dir` and this one waits.
    """
    columns = dict(cfg.data.columns)
    manifest = read_manifest(cfg.manifest_path(), columns)
    check_labels(manifest)
    rows = list(manifest.rows)
    split_cfg = cfg.data.split
    size = cfg.data.image_size
    # A split that cannot work fails now, not after decoding (skipping rows only makes it worse).
    grouped_split([r.group for r in rows], [r.label for r in rows], split_cfg.val, split_cfg.test, split_cfg.seed, str(manifest.path))
    check_memory(manifest, len(rows), size)  # what a search will need, also when this load keeps nothing
    refuse_bad = cfg.data.on_bad_image == "error"
    try:
        pixels, report, digests = decode_pixels(
            [r.image for r in rows], size, cfg.data.max_image_pixels, folder=None if cache_dir is None else Path(cache_dir),
            keep=keep_pixels, progress=progress, on_wait=on_wait, publish=lambda rep: not (rep.bad and refuse_bad),
        )
    except MemoryError:
        raise DataError(
            f"Manifest {str(manifest.path)!r}: its {len(rows):,} images at {size}px do not fit in memory. "
            "Lower data.image_size, or use fewer rows."
        ) from None
    skipped: list[tuple[int, str]] = []
    if report.bad:
        bad = [(rows[i], why) for i, why in report.bad]
        if refuse_bad:
            raise _bad_rows_error(manifest, bad)
        keep = np.ones(len(rows), dtype=bool)
        keep[[i for i, _ in report.bad]] = False
        skipped = [(r.line, why) for r, why in bad]
        rows = [r for r, k in zip(rows, keep) if k]
        digests = [d for d, k in zip(digests, keep) if k]
        pixels = pixels.keep(keep)
        if not rows:
            raise _bad_rows_error(manifest, bad)
    classes = sorted({r.label for r in rows})
    if len(classes) < 2:
        raise DataError(f"Manifest {str(manifest.path)!r}: after skipping bad images a single class {classes} is left.")
    duplicates = check_duplicates(manifest.path, rows, digests, cfg.data.on_duplicate, cfg.data.allow_shared_images)
    index = {c: i for i, c in enumerate(classes)}
    groups = [r.group for r in rows]
    assignment = grouped_split(
        groups, [r.label for r in rows], cfg.data.split.val, cfg.data.split.test, cfg.data.split.seed, str(manifest.path)
    )
    return Dataset(
        manifest=manifest,
        rows=rows,
        classes=classes,
        pixels=pixels,
        orders=np.array([r.order for r in rows], dtype=np.int32),
        y=np.array([index[r.label] for r in rows], dtype=np.int32),
        groups=np.array(groups),
        split=np.array([assignment[g] for g in groups]),
        report=report,
        skipped=skipped,
        digests=digests,
        duplicates=duplicates,
    )
