"""benchmarks/index.py: the README of the committed results, with its endpoint, Holm-adjusted p-values and scopes."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from autoorder.benchmarking.figures import compute_figures
from autoorder.core.fileio import write_json
from autoorder.schema.benchmark import SCHEMA_VERSION
from tests.helpers import fake_predictions

ROOT = Path(__file__).resolve().parents[1]
V1 = ROOT / "tests" / "data" / "benchmark-v1"  # version-1 files, as committed before protocol 2


def _index():
    spec = importlib.util.spec_from_file_location("benchmarks_index", ROOT / "benchmarks" / "index.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(text: str, heading: str) -> dict[str, list[str]]:
    part = text.split(heading, 1)[1].split("\n## ", 1)[0]
    lines = [ln for ln in part.splitlines() if ln.startswith("| ") and not ln.startswith("| result")]
    return {ln.split("|")[1].strip(): [c.strip() for c in ln.split("|")[2:-1]] for ln in lines}


def test_the_committed_readme_is_what_index_writes():
    assert _index().readme_text() == (ROOT / "benchmarks" / "README.md").read_text()


def test_endpoint_holm_and_scope_over_protocol_1_and_2_rows(tmp_path):
    index = _index()
    for name, v1 in (("glyph-views", "glyph-views"), ("digits-views", "glyph-views-pretrained")):  # two version-1 rows
        (tmp_path / name / "results").mkdir(parents=True)
        shutil.copy(V1 / f"{v1}.json", tmp_path / name / "results" / "benchmark.json")
        shutil.copy(ROOT / "benchmarks" / name / "scope.md", tmp_path / name)
    figures = compute_figures(fake_predictions(repeats=3, seeds=2, objects=20), reps=300)
    (tmp_path / "new" / "results").mkdir(parents=True)
    figures["repeats"][0]["searches"] = {"image_only": {"trials": [{"id": "0", "status": "COMPLETED", "seconds": 100.0}]},
                                         "order_aware": {"trials": [{"id": "0", "status": "COMPLETED", "seconds": 30.0}, {"id": "1", "status": "COMPLETED", "seconds": 20.0}]}}
    figures["repeats"][1]["searches"] = {"order_aware": {"trials": [{"id": "0", "status": "COMPLETED", "seconds": 30.0}]}}
    write_json(tmp_path / "new" / "results" / "benchmark.json",
               {"schema_version": SCHEMA_VERSION, **figures, "command": "autoorder benchmark new/config.yaml",
                "view_classifier": {"accuracy": 0.97, "chance": 1 / 3, "per_repeat": [0.97] * 3}, "seconds": 4.0})
    (tmp_path / "new" / "scope.md").write_text("Fake glyphs, chosen to test the index.\n")
    (tmp_path / "later").mkdir()
    (tmp_path / "later" / "config.yaml").write_text("data: {}\n")
    text = index.readme_text(tmp_path)
    assert "## Primary endpoint" in text and "**The per-photo test-accuracy gain**" in text
    rows = _rows(text, "## Primary endpoint")
    assert list(rows) == ["[digits-views](digits-views/results/report.md)", "[glyph-views](glyph-views/results/report.md)",
                          "[new](new/results/report.md)"]
    new = rows["[new](new/results/report.md)"]
    assert new[0] == "2" and new[1] == "3 x 2" and new[6].endswith("(bootstrap)")
    p = [float(r[6].split()[0]) for r in rows.values()]
    adjusted = [float(r[7]) for r in rows.values()]
    assert adjusted == pytest.approx([min(1.0, x) for x in index.holm(p)], rel=1e-2)
    assert all(a >= q for a, q in zip(adjusted, p))
    assert rows["[glyph-views](glyph-views/results/report.md)"][6].endswith("(paired t over seeds)")
    scopes = _rows(text, "## Scope of each row")
    assert "Fake glyphs, chosen to test the index." in scopes["new"][0] and scopes["new"][1] == "97.0 (33.3)"
    assert "Version-1 result" in scopes["glyph-views"][0] and "not measured" in scopes["glyph-views"][1]
    assert "Not run yet (a config without results): [later](later/config.yaml)" in text
    provenance = _rows(text, "## Provenance")
    assert provenance["new"][-2:] == ["3 min", "4 s"]  # every search trial of every repeat; the last run alone
    assert "- Version 1 rows (the old protocol" in text  # how those rows' figures were made
    for name in ("glyph-views", "digits-views"):
        shutil.rmtree(tmp_path / name)
    assert "Version 1 rows" not in index.readme_text(tmp_path)  # no such row, no such paragraph
