"""The Python API (autoorder.search, load_run, benchmark, Run), as README shows it.

README's runnable quickstart is run as written (in a temporary folder): a search from a dict,
evaluate, export, then the same search grown by one trial. The other tests use the run it
leaves behind.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import autoorder
from autoorder.core.errors import ConfigError, DataError
from tests.helpers import simple_dataset

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def _readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    after = text.split("A runnable version, end to end", 1)[1]
    return re.search(r"```python\n(.*?)```", after, re.S).group(1)


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    """(folder, what the example printed, its variables) after README's quickstart ran in `folder`."""
    root = tmp_path_factory.mktemp("quickstart")
    code = _readme_example()
    here = os.getcwd()
    out = io.StringIO()
    namespace: dict = {"__name__": "__readme__"}
    os.chdir(root)
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, "README.md", "exec"), namespace)
    finally:
        os.chdir(here)
    return root, out.getvalue(), namespace


def test_import_is_light_and_the_api_names_are_public():
    code = "import sys, autoorder; assert 'tensorflow' not in sys.modules; print(sorted(autoorder.__all__))"
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert {"search", "load_run", "benchmark"} <= set(eval(p.stdout))


def test_the_readme_quickstart_runs_as_written(quickstart):
    root, printed, ns = quickstart
    code = _readme_example()
    assert "autoorder.search(config" in code and "run.evaluate(" in code and "run.export(" in code
    assert "trial 2/2" in printed and "trial 3/3" in printed  # grown from 2 to 3 trials by the second search
    assert (root / "quickstart" / "model" / "saved_model.pb").is_file()
    assert len(ns["run"].leaderboard()) == 3


def test_load_run_leaderboard_best_model_predict_evaluate_export(quickstart, capsys):
    root, _, ns = quickstart
    run_dir = root / "quickstart" / "run"
    run = autoorder.load_run(run_dir)
    board = run.leaderboard()
    assert board == sorted(board, key=lambda r: -r["score"])
    assert set(board[0]) >= {"trial", "score", "hyperparameters", "seconds"}
    assert run.classes == ["b", "d", "p", "q"]
    model = run.best_model()
    assert {t.name for t in model.inputs} == {"image", "order"}
    images = np.random.default_rng(0).integers(0, 256, (4, 24, 24, 3)).astype(np.uint8)  # resized to 16 px like the search
    probs = run.predict(images, [1, 2, 3, 0])
    assert probs.shape == (4, 4) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert run.predict(images).shape == (4, 4)  # orders unknown
    with pytest.raises(DataError, match="one order per image"):
        run.predict(images, [1, 2])
    with pytest.raises(DataError, match=r"shape \(n, height, width, 3\)"):
        run.predict(images[..., 0])
    # evaluate: what `autoorder evaluate --out EVAL.json` writes, through predict's decoding.
    ev = run.evaluate(root / "quickstart" / "data" / "manifest.csv")
    assert {"accuracy", "balanced_accuracy", "per_class", "per_order", "per_object", "confusion_matrix"} <= set(ev)
    assert set(ev["per_class"]) == {"b", "d", "p", "q"} and ev["images"] == 72 and ev["per_object"]["objects"] == 24
    # export: the SavedModel gives the .keras model's probabilities.
    import tensorflow as tf

    loaded = tf.saved_model.load(str(root / "quickstart" / "model"))
    x = {"image": images[:, :16, :16].astype(np.float32), "order": np.array([1, 2, 3, 0], np.int32)}
    assert np.abs(np.asarray(loaded.serve(x)) - model.predict(x, verbose=0)).max() < 1e-4
    # The same search again, from a YAML file this time: nothing to do, and nothing printed.
    cfg = root / "search.yaml"
    cfg.write_text(yaml.safe_dump(ns["config"]))
    lines: list[str] = []
    here = os.getcwd()
    os.chdir(root)  # the config's relative paths, as in the quickstart
    try:
        same = autoorder.search(cfg, run_dir, overrides={"tuner.max_trials": 3}, log=lines.append)
    finally:
        os.chdir(here)
    assert same.leaderboard() == board and any(line.startswith("nothing to do") for line in lines)
    assert capsys.readouterr().out == ""  # library code never prints (Keras Tuner's lines included)


def test_bad_config_and_overrides_are_named(tmp_path):
    manifest = simple_dataset(tmp_path / "data", classes=("a", "b", "c"), objects_per_class=5)
    config = {"data": {"manifest": str(manifest), "image_size": 16}}
    with pytest.raises(ConfigError, match="must be a path, a dict or a Config"):
        autoorder.search(42, tmp_path / "run")
    with pytest.raises(ConfigError, match=r"'tuner.max_trials' key .* must be an int >= 1"):
        autoorder.search(config, tmp_path / "run", overrides={"tuner.max_trials": 0})


def test_benchmark_takes_repeats_and_seeds_as_documented(monkeypatch, tmp_path):
    import autoorder.api as api

    seen = {}
    monkeypatch.setattr(api, "run_benchmark", lambda cfg, out, **kw: seen.update(kw) or "result")
    assert autoorder.benchmark({"data": {"manifest": str(tmp_path / "m.csv")}}, tmp_path / "b", seeds=5, repeats=5) == "result"
    assert seen["seeds"] == 5 and seen["repeats"] == 5
