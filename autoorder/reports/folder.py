"""`autoorder report FOLDER`: a benchmark folder (benchmark.json) or a run folder (results.json)."""

from __future__ import annotations

from pathlib import Path

from autoorder.core.errors import RunError
from autoorder.reports.benchmark import render_benchmark_report
from autoorder.reports.search import render_report
from autoorder.schema.benchmark import BENCHMARK_JSON
from autoorder.schema.results import RESULTS


def render_folder(folder: str | Path) -> Path:
    """Write FOLDER/report.md and FOLDER/plots/ from what the folder holds; returns report.md's path.

    A benchmark folder holds benchmark.json (its two searches, in subfolders, hold results.json
    each); a run folder holds results.json.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise RunError(f"{str(folder)!r} does not exist. Expected a run folder (results.json) or a benchmark folder (benchmark.json).")
    if (folder / BENCHMARK_JSON).is_file():
        return render_benchmark_report(folder)
    if (folder / RESULTS).is_file():
        return render_report(folder)
    raise RunError(
        f"{str(folder)!r} holds neither {RESULTS} nor {BENCHMARK_JSON}. Expected the --out folder of a search or of a "
        "benchmark (a search still running has no results yet)."
    )
