"""Markdown building blocks shared by the search and benchmark reports."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Sequence

from autoorder.core.config import HP_BACKBONE, HP_FREEZE
from autoorder.core.fileio import check_writable, make_folder
from autoorder.schema.results import DatasetSummary, is_finite

REPORT = "report.md"
PLOTS_DIR = "plots"
ORDER_NAMES = {0: "unknown", 1: "front", 2: "back", 3: "other"}


def order_name(value: int) -> str:
    return ORDER_NAMES.get(value, f"position {value}")


def wilson(correct: int, n: int, z: float = 1.96) -> tuple[float | None, float | None]:
    """95% Wilson score interval of a proportion; (None, None) when n is 0."""
    if n <= 0:
        return None, None
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def freeze_of(hps: dict) -> Any:
    """The freeze point of a trial: the hyperparameter `<backbone>/freeze`."""
    return hps.get(f"{hps.get(HP_BACKBONE)}/{HP_FREEZE}")


def visible_hps(hps: dict) -> dict:
    """Hyperparameters a reader cares about: active ones (inactive are None), no tuner bookkeeping."""
    return {k: v for k, v in hps.items() if v is not None and not k.startswith("tuner/")}


def hps_text(hps: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in visible_hps(hps).items())


def md(value: Any) -> str:
    """Text safe inside a GitHub table cell."""
    text = " ".join(str(value).split())
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: Sequence[str] | None = None) -> str:
    align = align or ["l"] * len(header)
    rule = {"l": ":---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(md(h) for h in header) + " |", "|" + "|".join(rule[a] for a in align) + "|"]
    lines += ["| " + " | ".join(md(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def acc(x: Any) -> str:
    return f"{x:.4f}" if is_finite(x) else "-"


def secs(x: Any) -> str:
    return f"{x:.1f}" if is_finite(x) else "-"


class Doc:
    """A markdown document under construction, with its plots written beside it."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.parts: list[str] = []
        # A read-only folder, or a user's file named `plots`, fails here with one message, before
        # any figure is drawn.
        check_writable(folder, "report folder")
        make_folder(folder / PLOTS_DIR, "plots folder")

    def add(self, *texts: str) -> None:
        self.parts.extend(texts)

    def plot(self, name: str, alt: str, draw: Callable[[Path], Any]) -> None:
        draw(self.folder / PLOTS_DIR / f"{name}.png")
        self.add(f"![{alt}]({PLOTS_DIR}/{name}.png)")

    def text(self) -> str:
        return "\n\n".join(p.strip("\n") for p in self.parts) + "\n"


def dataset_section(doc: Doc, ds: DatasetSummary | None) -> None:
    if ds is None:
        return
    rows: list[list[Any]] = []
    if ds.manifest:
        rows.append(["manifest", ds.manifest])
    for value, label in ((ds.images, "images"), (ds.objects, "objects"), (ds.image_size, "image size (px)")):
        if value is not None:
            rows.append([label, value])
    if ds.classes:
        shown = ", ".join(ds.classes[:30]) + (f", ... ({len(ds.classes) - 30} more)" if len(ds.classes) > 30 else "")
        rows.append(["classes", f"{len(ds.classes)}: {shown}"])
    if ds.has_order is not None:
        rows.append(["order column", "yes" if ds.has_order else "no (every photo is unknown, 0)"])
    if ds.order_values_train is not None:
        rows.append(["order values (train)", ", ".join(str(v) for v in ds.order_values_train)])
    if ds.converted_images:
        rows.append(["converted to RGB", ", ".join(f"{k}: {v}" for k, v in ds.converted_images.items())])
    if ds.exif_rotated:
        rows.append(["EXIF-rotated images", ds.exif_rotated])
    if ds.skipped_rows:
        rows.append(["skipped rows", len(ds.skipped_rows)])
    for value, label in ((ds.repeated_images, "repeated images (same object)"), (ds.cross_label_images, "images under two labels"),
                         (ds.shared_images, "images shared by two objects")):
        if value:
            rows.append([label, value])
    if ds.fingerprint:
        rows.append(["data fingerprint", ds.fingerprint])
    if not rows:
        return
    doc.add("## Dataset", table(["", "value"], rows, ["l", "l"]))
    ips, ops = ds.images_per_split, ds.objects_per_split
    splits = [s for s in ("train", "val", "test") if s in ips or s in ops]
    if splits:
        doc.add(table(["split", "images", "objects"], [[s, ips.get(s, "-"), ops.get(s, "-")] for s in splits], ["l", "r", "r"]))
    if ds.warnings:
        doc.add("Warnings about the data:", "\n".join(f"- {md(w)}" for w in ds.warnings))
    skipped = ds.skipped_rows
    if skipped:
        lines = [[r.line if r.line is not None else "?", r.reason] for r in skipped[:20]]
        doc.add("Skipped rows (first 20):" if len(skipped) > 20 else "Skipped rows:", table(["line", "reason"], lines, ["r", "l"]))
