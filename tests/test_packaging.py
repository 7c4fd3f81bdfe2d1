"""What pip reads: the Python versions, the extras (GPU, ONNX), the classifiers."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_python_version_matches_what_keras_needs():
    # keras 3.15 requires Python 3.11: a lower bound here only moves the failure into pip's resolver.
    assert _project()["requires-python"] == ">=3.11"
    classifiers = _project()["classifiers"]
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert not any(c.startswith("Programming Language :: Python :: 3.10") for c in classifiers)
    assert "License :: OSI Approved :: Apache Software License" in classifiers


def test_gpu_and_onnx_extras_and_the_readme_line_for_gpu_users():
    extras = _project()["optional-dependencies"]
    assert any(d.startswith("tensorflow[and-cuda]") for d in extras["gpu"])
    assert {d.split(">")[0].split("=")[0] for d in extras["onnx"]} == {"tf2onnx", "onnx", "onnxruntime"}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert 'pip install "autoorder[gpu]"' in readme and "autoorder[onnx]" in readme
