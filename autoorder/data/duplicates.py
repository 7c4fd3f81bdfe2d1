"""Data that lies: the same image file content on several rows of a manifest.

Three cases, each told by comparing a row with the first row of the same content:
- *repeated*: the same image twice in one object (a duplicated row or a copied file). It weighs
  that photo twice; `data.on_duplicate` makes it an error (default) or a warning.
- *cross-label*: the same image under two labels. At least one label is wrong; also
  `data.on_duplicate`.
- *shared*: the same image (same label) under two object ids. The split keeps objects whole,
  so the same pixels can land in train and in test and inflate the test accuracy: an error
  unless `data.allow_shared_images: true`.

"The same image" means identical file bytes (sha256), so a re-encoded copy is not caught.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from autoorder.core.errors import DataError, describe
from autoorder.data.manifest import Row

REPEATED, CROSS_LABEL, SHARED = "repeated", "cross_label", "shared"
SHOWN = 20  # rows listed in a message


@dataclass
class Finding:
    kind: str
    row: Row
    first: Row

    def text(self) -> str:
        head = f"  line {self.row.line}: {describe(self.row.path, 60)} is the same image as line {self.first.line}"
        if self.kind == CROSS_LABEL:
            return f"{head} ({describe(self.first.path, 60)}) under another label ({self.row.label!r} vs {self.first.label!r})"
        if self.kind == SHARED:
            return (
                f"{head} ({describe(self.first.path, 60)}) in another object ({self.row.group!r} vs {self.first.group!r}): "
                "the same pixels can land in train and in test"
            )
        return f"{head} ({describe(self.first.path, 60)}), twice in object {self.row.group!r}"


@dataclass
class DuplicateReport:
    """What the check found and what it let through (as warnings)."""

    counts: dict[str, int] = field(default_factory=lambda: {REPEATED: 0, CROSS_LABEL: 0, SHARED: 0})
    warnings: list[str] = field(default_factory=list)


def find_duplicates(rows: Sequence[Row], digests: Sequence[str | None]) -> list[Finding]:
    """Every row whose file content equals that of an earlier row, with how they differ."""
    first_of: dict[str, Row] = {}
    found = []
    for row, digest in zip(rows, digests):
        if digest is None:
            continue
        first = first_of.setdefault(digest, row)
        if first is row:
            continue
        kind = CROSS_LABEL if row.label != first.label else REPEATED if row.group == first.group else SHARED
        found.append(Finding(kind, row, first))
    return found


def check_duplicates(
    manifest_path: Path, rows: Sequence[Row], digests: Sequence[str | None], on_duplicate: str, allow_shared: bool
) -> DuplicateReport:
    """Errors for what the config does not let through; warnings and counts for the rest."""
    report = DuplicateReport()
    findings = find_duplicates(rows, digests)
    for f in findings:
        report.counts[f.kind] += 1
    refused = [
        f for f in findings
        if (f.kind == SHARED and not allow_shared) or (f.kind != SHARED and on_duplicate == "error")
    ]
    if refused:
        kinds = {f.kind for f in refused}
        lines = "\n".join(f.text() for f in refused[:SHOWN])
        more = f"\n  ... and {len(refused) - SHOWN} more" if len(refused) > SHOWN else ""
        fixes = []
        if kinds & {REPEATED, CROSS_LABEL}:
            fixes.append("data.on_duplicate: warn (to keep repeated images and images under two labels)")
        if SHARED in kinds:
            fixes.append("data.allow_shared_images: true (to keep an image shared by two objects)")
        raise DataError(
            f"Manifest {str(manifest_path)!r}: {len(refused)} row(s) repeat the image of an earlier row "
            f"(identical file content):\n{lines}{more}\nFix or remove those rows, or set " + ", or ".join(fixes) + "."
        )
    for kind, what in ((REPEATED, "repeat an image of the same object"), (CROSS_LABEL, "repeat an image under another label")):
        these = [f for f in findings if f.kind == kind]
        if these:
            f = these[0]
            report.warnings.append(
                f"{len(these)} row(s) of {str(manifest_path)!r} {what} (first: line {f.row.line} = line {f.first.line}, "
                f"{describe(f.row.path, 60)}); kept because data.on_duplicate is warn"
            )
    return report
