"""benchmarks/perf/run_perf.py still runs end to end (a smoke run; the figures are its job)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_perf_script_quick_run_writes_a_complete_report(tmp_path):
    out = tmp_path / "perf"
    cmd = [sys.executable, str(ROOT / "benchmarks/perf/run_perf.py"), "--quick", "--backbone", "tiny_cnn", "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
    r = json.loads((out / "results.json").read_text())
    (rd,) = r["rounds"]
    a, p = rd["autoorder"], rd["plain"]
    # Both sides ran the same trials; autoorder made one backbone pass for all of them.
    assert p["trials"] == len(a["trials"]) == r["settings"]["trials"]
    assert a["backbone_passes"] == 1
    assert rd["ratio"] == p["wall_seconds"] / a["wall_seconds"]
    assert 0 < a["floor_seconds"] <= a["wall_seconds"]
    assert len(r["memory"]["rss_after_trial_mb"]) == r["settings"]["memory_trials"]
    readme = (out / "README.md").read_text()
    assert f"{r['speedup']:.1f}x" in readme and f"{r['memory']['growth_mb']:+.0f} MB" in readme
    # The fixed cost per trial pairs the memory run's trials with the same trials run longer (the first left out).
    f = r["fixed_cost"]
    assert f["trials"] == r["settings"]["memory_trials"] - 1 and len(f["fixed_seconds"]) == f["trials"]
    assert f"**{f['fixed_median_seconds']:.2f} s** median" in readme
    # --render rebuilds the same report from results.json alone.
    (out / "README.md").unlink()
    subprocess.run([*cmd[:2], "--render", "--out", str(out)], check=True, timeout=120)
    assert (out / "README.md").read_text() == readme
