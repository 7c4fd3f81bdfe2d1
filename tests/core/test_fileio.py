"""Atomic writes, safe CSV and folder locks."""

from __future__ import annotations

import pytest

from autoorder.core.fileio import csv_text, escape_cell

pytestmark = pytest.mark.slow


def test_csv_cells_that_a_spreadsheet_would_run_are_escaped():
    assert escape_cell("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    assert escape_cell("+1") == "'+1" and escape_cell("@SUM(A1)") == "'@SUM(A1)" and escape_cell("-2") == "'-2"
    assert escape_cell("chair") == "chair" and escape_cell(3) == 3
    text = csv_text(["image", "label"], [["=cmd|' /C calc'!A0", "ok"]])
    assert "'=cmd" in text

