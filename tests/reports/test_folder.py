"""`autoorder report FOLDER`: a benchmark folder or a run folder, told apart by what it holds."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from autoorder.cli import main

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks" / "glyph-views" / "results"  # a committed benchmark folder


def _report(folder):
    r = CliRunner().invoke(main, ["report", str(folder)])
    return r.exit_code, r.output


def test_report_re_renders_a_benchmark_folder(tmp_path):
    bench = tmp_path / "bench"
    shutil.copytree(BENCH, bench)
    (bench / "report.md").unlink()
    shutil.rmtree(bench / "plots", ignore_errors=True)
    code, out = _report(bench)
    assert code == 0, out
    text = (bench / "report.md").read_text(encoding="utf-8")
    assert text.startswith("# Does the upload order help? Benchmark") and "benchmark.json" in text
    assert any((bench / "plots").glob("*.png"))
    # Each of its searches is a run folder: its own report.
    search = bench / "repeat-0" / "order_aware"  # protocol 2: repeat-K/<arm>
    (search / "report.md").unlink()
    code, out = _report(search)
    assert code == 0, out
    assert "benchmark.json" not in (search / "report.md").read_text(encoding="utf-8")


def test_report_of_a_folder_with_neither_result_file_is_refused(tmp_path):
    code, out = _report(tmp_path)
    assert code == 1 and "neither results.json nor benchmark.json" in out and "Traceback" not in out
    code, out = _report(tmp_path / "missing")
    assert code == 1 and "does not exist" in out
