"""benchmarks/scale/run_scale.py still runs end to end and says where the memory went (a smoke run)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks" / "scale"))

import run_scale  # noqa: E402


def test_log_lines_mark_the_phases_of_a_search():
    phase = "pass"
    seen = []
    for line in ["training on: CPU only", "caching tiny_cnn features at all for 30 images (one backbone pass)",
                 "cached tiny_cnn features for 30 images in 0s", "trial 1/1 [id 0]  val_accuracy 0.5", "warning: x",
                 "exporting the best model (trial id 0, val_accuracy 0.5)", "warning: collapsed"]:
        phase = run_scale.phase_of(line, phase)
        seen.append(phase)
    assert seen == ["pass", "pass", "trials", "trials", "trials", "export", "export"]


def test_scale_script_quick_run_reports_peak_memory_by_phase(tmp_path):
    out = tmp_path / "scale"
    cmd = [sys.executable, str(ROOT / "benchmarks/scale/run_scale.py"), "--n", "330", "--sizes", "32", "--backbone", "tiny_cnn",
           "--trials", "1", "--epochs", "1", "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
    r = json.loads((out / "results.json").read_text())
    (row,) = r["rows"]
    assert r["complete"] and row["backbone_passes"] == 1
    phases = row["peak_anon_mb_by_phase"]
    assert set(phases) == set(run_scale.PHASES) and all(v > 0 for v in phases.values())
    assert max(phases.values()) <= row["peak_anon_mb"]
    assert "Peak anonymous memory (MB) in each phase" in (out / "README.md").read_text()
