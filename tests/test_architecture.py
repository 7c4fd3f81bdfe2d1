"""The shape of the package: layers and cycles (import-linter), module sizes, lazy imports, private access.

import-linter's contracts live in pyproject.toml and run in CI (`lint-imports` in .ci/run); this
file runs them too, so `pytest` alone catches a broken layer, and adds the rules import-linter
cannot express.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "autoorder"
COMPAT = PACKAGE / "compat"
MAX_LINES = 600
PRIVATE_FRAMEWORK_MODULES = ("keras_tuner.src", "keras.src", "tensorflow.python")


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _parents(tree: ast.AST) -> dict:
    parents = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    return parents


def _in_function(node: ast.AST, parents: dict) -> bool:
    p = parents.get(node)
    while p is not None:
        if isinstance(p, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return True
        p = parents.get(p)
    return False


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter is not installed")
def test_import_linter_contracts_are_kept():
    p = subprocess.run(["lint-imports"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    assert "0 broken" in p.stdout


def test_no_module_is_over_600_lines():
    long = {str(p.relative_to(ROOT)): n for p in _modules() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_function_level_imports_say_why():
    """Imports inside functions are for start-up speed only, each with a one-line reason."""
    silent = []
    for path in _modules():
        lines = path.read_text().splitlines()
        tree = ast.parse("\n".join(lines))
        parents = _parents(tree)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and _in_function(node, parents):
                comment = lines[node.lineno - 1].partition("#")[2].strip()
                reason = comment.replace("noqa: F401", "").strip()
                if not reason:
                    silent.append(f"{path.relative_to(ROOT)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert not silent, "function-level imports without a reason comment:\n" + "\n".join(silent)


def _own_private_names() -> set[str]:
    """Every `_name` autoorder itself defines (functions, classes, attributes, keyword arguments)."""
    names: set[str] = set()
    for path in _modules():
        if COMPAT in path.parents:
            continue  # what compat sets on framework objects is theirs, not autoorder's
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
    return {n for n in names if n.startswith("_")}


def test_private_framework_access_only_in_compat():
    """Private modules and attributes of Keras, Keras Tuner and TensorFlow are reached only
    through autoorder.compat (an upgrade then fails in tests/test_compat.py, by name)."""
    own = _own_private_names()
    found = []
    for path in _modules():
        if COMPAT in path.parents:
            continue
        rel = path.relative_to(ROOT)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PRIVATE_FRAMEWORK_MODULES):
                found.append(f"{rel}:{node.lineno}: from {node.module} import ...")
            elif isinstance(node, ast.Import):
                found += [f"{rel}:{node.lineno}: import {a.name}" for a in node.names if a.name.startswith(PRIVATE_FRAMEWORK_MODULES)]
            elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                base = node.value
                mine = isinstance(base, ast.Name) and base.id in ("self", "cls")
                if not mine and node.attr not in own:
                    found.append(f"{rel}:{node.lineno}: .{node.attr}")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr", "setattr"):
                if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
                    name = node.args[1].value
                    if name.startswith("_") and not name.startswith("__") and name not in own:
                        found.append(f"{rel}:{node.lineno}: {node.func.id}(..., {name!r})")
    assert not found, "private framework access outside autoorder.compat:\n" + "\n".join(found)


def test_reports_and_help_do_not_import_tensorflow():
    code = (
        "import sys, autoorder, autoorder.cli, autoorder.reports.search, autoorder.reports.benchmark, "
        "autoorder.schema.results, autoorder.distributed.launch; "
        "bad = [m for m in ('tensorflow', 'keras', 'keras_tuner') if m in sys.modules]; "
        "assert not bad, bad"
    )
    p = subprocess.run([__import__("sys").executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
