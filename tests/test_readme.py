"""The runnable Python API example of README.md, run as written (in a temporary folder)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    after = text.split("A runnable version, end to end", 1)[1]
    return re.search(r"```python\n(.*?)```", after, re.S).group(1)


def test_the_readme_quickstart_runs_as_written(tmp_path, monkeypatch, capsys):
    code = _example()
    assert "autoorder.search(config" in code and "run.evaluate(" in code and "run.export(" in code
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})
    out = capsys.readouterr().out
    assert "trial 2/2" in out and "trial 3/3" in out  # grown from 2 to 3 trials
    assert (tmp_path / "quickstart" / "model" / "saved_model.pb").is_file()
    assert (tmp_path / "quickstart" / "run" / "results.json").is_file()
