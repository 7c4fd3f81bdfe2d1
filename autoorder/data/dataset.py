"""A manifest turned into arrays: decoded images, order values, label ids and the split.

Everything that can be checked before decoding is (the split, the memory the decoded images
need); after decoding, the same file content on two rows is checked (`autoorder.data.duplicates`).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from autoorder.core.config import Config
from autoorder.core.environment import available_memory
from autoorder.core.errors import DataError
from autoorder.data.duplicates import CROSS_LABEL, REPEATED, SHARED, DuplicateReport, check_duplicates
from autoorder.data.images import LoadReport, load_images
from autoorder.data.manifest import Manifest, Row, check_labels, read_manifest
from autoorder.data.split import SPLITS, grouped_split
from autoorder.schema.results import DatasetSummary, SkippedRow


@dataclass
class Dataset:
    """All photos of a manifest, decoded at one image size.

    Attributes:
        images: uint8 (n, size, size, 3).
        orders: int32 (n,), 0 = unknown.
        y: int32 (n,), index into `classes`.
        split: array of "train" / "val" / "test".
    """

    manifest: Manifest
    rows: list[Row]
    classes: list[str]
    images: np.ndarray
    orders: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    split: np.ndarray
    report: LoadReport
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)
    digests: list[str | None] = field(default_factory=list)  # sha256 of each row's file
    duplicates: DuplicateReport = field(default_factory=DuplicateReport)
    _fingerprint: str | None = field(default=None, repr=False)  # arrays are never changed after loading

    def indices(self, name: str) -> np.ndarray:
        return np.flatnonzero(self.split == name)

    def part(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        idx = self.indices(name)
        return self.images[idx], self.orders[idx], self.y[idx]

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
        """Changes whenever the pixels, the order or the split change (cache and resume keys)."""
        if self._fingerprint is None:
            self._fingerprint = self._compute_fingerprint()
        return self._fingerprint

    def _compute_fingerprint(self) -> str:
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.images).data)  # the same bytes as tobytes(), without a copy
        h.update(self.orders.tobytes())
        h.update(self.y.tobytes())
        h.update("\n".join(self.split.tolist()).encode())
        return h.hexdigest()[:16]

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
            image_size=int(self.images.shape[1]),
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
    """Refuse, before decoding, images that cannot fit in memory once decoded."""
    need = n * size * size * 3
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


def load_dataset(cfg: Config, progress: Callable[[int, int], None] | None = None) -> Dataset:
    """Read the manifest, check what can be checked, decode every image, check duplicates, split by object."""
    columns = dict(cfg.data.columns)
    manifest = read_manifest(cfg.manifest_path(), columns)
    check_labels(manifest)
    rows = list(manifest.rows)
    split_cfg = cfg.data.split
    # A split that cannot work fails now, not after decoding (skipping rows only makes it worse).
    grouped_split([r.group for r in rows], [r.label for r in rows], split_cfg.val, split_cfg.test, split_cfg.seed, str(manifest.path))
    check_memory(manifest, len(rows), cfg.data.image_size)
    try:
        images, report = load_images([r.image for r in rows], cfg.data.image_size, cfg.data.max_image_pixels, progress)
    except MemoryError:
        raise DataError(
            f"Manifest {str(manifest.path)!r}: its {len(rows):,} images at {cfg.data.image_size}px do not fit in memory. "
            "Lower data.image_size, or use fewer rows."
        ) from None
    digests = [report.digests.get(i) for i in range(len(rows))]
    skipped: list[tuple[int, str]] = []
    if report.bad:
        bad = [(rows[i], why) for i, why in report.bad]
        if cfg.data.on_bad_image == "error":
            raise _bad_rows_error(manifest, bad)
        keep = np.ones(len(rows), dtype=bool)
        keep[[i for i, _ in report.bad]] = False
        skipped = [(r.line, why) for r, why in bad]
        rows = [r for r, k in zip(rows, keep) if k]
        digests = [d for d, k in zip(digests, keep) if k]
        images = images[keep]
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
        images=images,
        orders=np.array([r.order for r in rows], dtype=np.int32),
        y=np.array([index[r.label] for r in rows], dtype=np.int32),
        groups=np.array(groups),
        split=np.array([assignment[g] for g in groups]),
        report=report,
        skipped=skipped,
        digests=digests,
        duplicates=duplicates,
    )

