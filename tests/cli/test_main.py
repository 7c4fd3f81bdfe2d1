"""The `autoorder` command's benchmark and report entry points (the work itself is tested where it lives)."""

from __future__ import annotations

from click.testing import CliRunner

from autoorder.cli.main import main
from tests.reports.test_benchmark import make_benchmark


def test_benchmark_help_names_repeats_and_seeds():
    r = CliRunner().invoke(main, ["benchmark", "--help"])
    assert r.exit_code == 0 and "--repeats" in r.output and "--seeds" in r.output and "hierarchical" in r.output


def test_report_recognises_a_benchmark_folder_by_its_benchmark_json(tmp_path):
    out, _ = make_benchmark(tmp_path, repeats=2)
    r = CliRunner().invoke(main, ["report", str(out)])
    assert r.exit_code == 0, r.output
    assert f"wrote {out / 'report.md'}" in r.output and (out / "plots" / "gain.png").exists()


def test_report_on_a_folder_that_is_neither_says_so(tmp_path):
    r = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert r.exit_code == 1 and "results.json" in r.output
