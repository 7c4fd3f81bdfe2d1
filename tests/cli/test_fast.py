"""Fast answers: arguments, config and paths are checked before TensorFlow is imported.

Each command runs in a fresh process, as a user runs it; the bound is generous (TensorFlow alone
takes 5-15 s to import here), and the process also reports whether TensorFlow was ever imported.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOUND_S = 5.0
PROBE = """
import sys
from autoorder.cli import main
try:
    main(sys.argv[1:], prog_name="autoorder")
except SystemExit as e:
    code = e.code
print("tensorflow imported:", "tensorflow" in sys.modules, file=sys.stderr)
sys.exit(code)
"""


def _run(args, cwd):
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-c", PROBE, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stderr, time.monotonic() - t0


@pytest.mark.parametrize(
    "args, message",
    [
        (["validate", "missing.yaml"], "Config file 'missing.yaml' does not exist"),
        (["search", "missing.yaml"], "Config file 'missing.yaml' does not exist"),
        (["benchmark", "missing.yaml"], "Config file 'missing.yaml' does not exist"),
        (["search", "nodata.yaml"], "Manifest"),
        (["search", "bad.yaml"], "Unknown key 'tunr'"),
        (["evaluate", "missing_run", "m.csv"], "Run folder 'missing_run' does not exist"),
        (["predict", "missing_run", "m.csv", "--out", "-"], "Run folder 'missing_run' does not exist"),
        (["export", "missing_run", "--format", "savedmodel", "--out", "x"], "Run folder 'missing_run' does not exist"),
        (["export", "missing_run", "--format", "litert", "--out", "x.bin"], ".tflite"),
        (["plugins", "list", "--config", "missing.yaml"], "Config file 'missing.yaml' does not exist"),
    ],
)
def test_a_wrong_path_or_key_is_answered_before_tensorflow_is_imported(tmp_path, args, message):
    (tmp_path / "nodata.yaml").write_text("data: {manifest: nowhere/manifest.csv}\n")
    (tmp_path / "bad.yaml").write_text("data: {manifest: m.csv}\ntunr: {}\n")
    code, err, seconds = _run(args, tmp_path)
    assert code == 1, err
    assert message in err and "Traceback" not in err
    assert "tensorflow imported: False" in err
    assert seconds < BOUND_S, f"{args}: {seconds:.1f}s"
