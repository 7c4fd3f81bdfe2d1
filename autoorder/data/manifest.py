"""CSV manifests: one row per photo (image path, label, upload order, object id).

Paths inside a manifest are relative to its folder and may not leave it (no `..`, no absolute
paths, no symlink pointing outside). Every problem names the file, the row and the column.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path

from autoorder.core.errors import DataError, describe, did_you_mean
from autoorder.core.fileio import read_regular

MAX_ORDER = 1000  # upload positions beyond this are almost surely a wrong column
UNKNOWN_ORDER = 0  # the order value used for a missing or invalid order at predict time
PATH_MAX = 4096  # bytes of a whole path (Linux); longer paths fail in the OS, so they fail here, on their row
OTHER_DELIMITERS = (";", "\t", "|")


@dataclass(frozen=True)
class Row:
    line: int  # line number in the CSV file (header = 1)
    path: str  # as written in the manifest
    image: Path  # resolved, inside the data folder
    label: str
    order: int  # UNKNOWN_ORDER when absent
    group: str


@dataclass(frozen=True)
class Manifest:
    path: Path
    rows: tuple[Row, ...]
    has_order: bool
    has_group: bool

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def labels(self) -> list[str]:
        return sorted({r.label for r in self.rows})


def check_manifest_path(path: str | Path) -> None:
    """The manifest exists and is a file (cheap: commands check it before importing TensorFlow)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"Manifest {str(path)!r} does not exist. Expected a CSV file.")
    if path.is_dir():
        raise DataError(f"Manifest {str(path)!r} is a folder. Expected a CSV file.")


def _read_text(path: Path) -> str:
    data = read_regular(path, "Manifest", "a CSV file", DataError)  # a FIFO is refused, never waited on
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataError(
            f"Manifest {str(path)!r} is not UTF-8: byte {data[e.start]:#04x} at line {line}. "
            "Expected UTF-8 text (re-save the file as UTF-8)."
        ) from None
    if not text.strip():
        raise DataError(f"Manifest {str(path)!r} is empty. Expected a header line and one row per image.")
    return text


def parse_order(text: str, *, where: str, strict: bool) -> int:
    """An upload position: an int in [1, MAX_ORDER]. Non-strict: anything else is unknown (0)."""
    t = text.strip()
    try:
        value = float(t) if t else math.nan
    except ValueError:
        value = math.nan
    ok = math.isfinite(value) and value == int(value) and 1 <= value <= MAX_ORDER
    if ok:
        return int(value)
    if not strict:
        return UNKNOWN_ORDER
    raise DataError(f"{where}: order must be an int in [1, {MAX_ORDER}]. Got {describe(text)} instead.")


def _name_max(root: Path) -> int:
    try:
        return int(os.pathconf(root, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return 255


def check_path_text(root: Path, rel: str, where: str) -> None:
    """A path the OS can take: no NUL byte, no name or whole path over the filesystem's limits."""
    if "\x00" in rel:
        raise DataError(f"{where}: image path {describe(rel)} holds a NUL byte. Expected a plain relative path.")
    name_max = _name_max(root)
    for part in rel.replace("\\", "/").split("/"):
        n = len(part.encode("utf-8", "surrogateescape"))
        if n > name_max:
            raise DataError(
                f"{where}: image path {describe(rel)} has a name of {n} bytes ({describe(part, 40)}); the filesystem "
                f"allows {name_max}. Expected shorter file and folder names."
            )
    n = len(os.fsencode(root)) + 1 + len(rel.encode("utf-8", "surrogateescape"))
    if n > PATH_MAX:
        raise DataError(
            f"{where}: image path {describe(rel)} makes a path of {n} bytes under {str(root)!r}; the OS allows "
            f"{PATH_MAX}. Expected a shorter path."
        )


def safe_image_path(root: Path, rel: str, where: str) -> Path:
    """Resolve `rel` under `root`; refuse absolute paths and anything that escapes `root`."""
    if not rel.strip():
        raise DataError(f"{where}: the image path is empty. Expected a path relative to {str(root)!r}.")
    check_path_text(root, rel, where)
    p = Path(rel.replace("\\", "/"))
    if p.is_absolute() or os.path.isabs(rel) or (len(rel) > 1 and rel[1] == ":"):
        raise DataError(
            f"{where}: image path {rel!r} is absolute. Expected a path relative to the manifest's folder {str(root)!r}."
        )
    root_real = Path(os.path.realpath(root))
    full = Path(os.path.realpath(root / p))
    if full != root_real and root_real not in full.parents:
        raise DataError(
            f"{where}: image path {rel!r} leads outside the manifest's folder {str(root)!r} "
            f"(to {str(full)!r}). Expected a path that stays inside it (no '..', no symlink out)."
        )
    return full


def read_manifest(
    path: str | Path,
    columns: dict,
    *,
    strict_order: bool = True,
    need_label: bool = True,
    require_order: bool = True,
    require_group: bool = True,
) -> Manifest:
    """Parse and validate every row (no image is decoded here)."""
    path = Path(path)
    text = _read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except csv.Error as e:
        raise DataError(f"Manifest {str(path)!r}, line 1: not valid CSV ({e}).") from None
    header = [h.strip() for h in header]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise DataError(f"Manifest {str(path)!r}: column(s) {dupes} appear more than once in the header {header}.")
    want = {"image": columns["image"]}
    if need_label:
        want["label"] = columns["label"]
    for role in ("order", "group"):
        if columns.get(role):
            want[role] = columns[role]
    idx: dict[str, int] = {}
    for role, name in want.items():
        if name not in header and role == "order" and not require_order:
            continue  # predicting without an order column: every photo is "unknown"
        if name not in header and role == "group" and not require_group:
            continue  # predicting without object ids: one prediction per photo only
        if name not in header:
            optional = " (set data.columns.%s: null if your data has none)" % role if role in ("order", "group") else ""
            raise DataError(
                f"Manifest {str(path)!r} has no column {name!r} (data.columns.{role}). "
                f"Columns found: {describe(header, 200)}.{did_you_mean(name, header)}{optional}{delimiter_hint(header)}"
            )
        idx[role] = header.index(name)

    rows: list[Row] = []
    labels_of_group: dict[str, tuple[str, int]] = {}
    root = path.parent
    try:
        for n, rec in enumerate(reader, start=2):
            if not rec or all(not c.strip() for c in rec):
                continue  # blank line
            where = f"Manifest {str(path)!r}, line {n}"
            if len(rec) != len(header):
                raise DataError(
                    f"{where}: {len(rec)} fields, expected {len(header)} as in the header {header}. Got {describe(rec)}."
                )
            rel = rec[idx["image"]].strip()
            image = safe_image_path(root, rel, where)
            label = rec[idx["label"]].strip() if "label" in idx else ""
            if need_label and not label:
                raise DataError(f"{where}: the label (column {columns['label']!r}) is empty. Expected a class name.")
            order = (
                parse_order(rec[idx["order"]], where=where + f", column {columns['order']!r}", strict=strict_order)
                if "order" in idx
                else UNKNOWN_ORDER
            )
            if "group" in idx:
                group = rec[idx["group"]].strip()
                if not group:
                    raise DataError(
                        f"{where}: the object id (column {columns['group']!r}) is empty. Expected an id shared by the photos of one object."
                    )
            else:
                group = f"row{n}"
            if need_label:
                seen = labels_of_group.setdefault(group, (label, n))
                if seen[0] != label:
                    raise DataError(
                        f"{where}: object {group!r} has label {label!r}, but line {seen[1]} gave it {seen[0]!r}. "
                        "Expected one label per object."
                    )
            rows.append(Row(n, rel, image, label, order, group))
    except csv.Error as e:
        raise DataError(f"Manifest {str(path)!r}, line {reader.line_num}: not valid CSV ({e}).") from None
    if not rows:
        raise DataError(f"Manifest {str(path)!r} has a header but no rows. Expected one row per image.")
    return Manifest(path, tuple(rows), "order" in idx, "group" in idx)


def delimiter_hint(header: list[str]) -> str:
    """' The header looks ';'-separated ...' when a one-column header holds another delimiter."""
    if len(header) != 1:
        return ""
    for sep in OTHER_DELIMITERS:
        if sep in header[0]:
            return (
                f" The header looks {sep!r}-separated ({len(header[0].split(sep))} fields); autoorder reads "
                "comma-separated CSV. Save the manifest with commas as the delimiter."
            )
    return ""


def check_labels(manifest: Manifest) -> None:
    """At least two classes (a classifier needs them)."""
    labels = manifest.labels
    if len(labels) < 2:
        raise DataError(
            f"Manifest {str(manifest.path)!r} has a single class {labels}. Expected at least 2 classes."
        )
