"""Atomic writes, safe CSV and folder locks."""

from __future__ import annotations

import os
import stat

import pytest

from autoorder.core.fileio import atomic_path, csv_text, escape_cell, write_csv, write_json

pytestmark = pytest.mark.slow


def test_csv_cells_that_a_spreadsheet_would_run_are_escaped():
    assert escape_cell("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    assert escape_cell("@SUM(A1)") == "'@SUM(A1)" and escape_cell("-2+3") == "'-2+3" and escape_cell("+A1") == "'+A1"
    assert escape_cell("-cmd") == "'-cmd" and escape_cell("\t=1") == "'\t=1" and escape_cell("-") == "'-"
    assert escape_cell("chair") == "chair" and escape_cell(3) == 3
    text = csv_text(["image", "label"], [["=cmd|' /C calc'!A0", "ok"]])
    assert "'=cmd" in text


def test_numbers_are_never_escaped():
    # A label `-1` or `+2` is a number to a spreadsheet, not a formula: it stays as it is.
    for number in ("-1", "+2", "-0.5", "+.5", "-1e-3", "1E5", "-12."):
        assert escape_cell(number) == number
    assert csv_text(["label"], [["-1"], ["+2"], ["-0.5"]]) == "label\n-1\n+2\n-0.5\n"


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_honour_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_json(tmp_path / "a.json", {"x": 1})
        write_csv(tmp_path / "b.csv", ["x"], [[1]])
        with atomic_path(tmp_path / "c.png") as tmp:
            tmp.write_bytes(b"png")
    finally:
        os.umask(old)
    for name in ("a.json", "b.csv", "c.png"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.csv", "c.png"]  # no temporary file left

