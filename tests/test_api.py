"""The Python API (autoorder.search, load_run, benchmark), as README shows it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import autoorder
from autoorder.core.errors import ConfigError, DataError
from tests.helpers import simple_dataset

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def _config(tmp_path: Path) -> dict:
    manifest = simple_dataset(tmp_path / "data", classes=("a", "b", "c"), objects_per_class=5)
    return {
        "data": {"manifest": str(manifest), "image_size": 16},
        "space": {"backbones": "tiny_cnn", "weights": None, "freeze": "none", "head_depth": 0, "order_encodings": ["none", "onehot"],
                  "learning_rate": 0.01, "batch_size": 8},
        "tuner": {"max_trials": 2, "epochs": 2, "seed": 0, "patience": 0},
        "plugins": {"paths": [], "entry_points": False},
    }


def test_import_is_light_and_the_api_names_are_public():
    code = "import sys, autoorder; assert 'tensorflow' not in sys.modules; print(sorted(autoorder.__all__))"
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert {"search", "load_run", "benchmark"} <= set(eval(p.stdout))


def test_search_load_run_leaderboard_best_model_and_predict(tmp_path):
    lines = []
    run = autoorder.search(_config(tmp_path), tmp_path / "run", overrides={"tuner.max_trials": 2}, log=lines.append)
    board = run.leaderboard()
    assert 1 <= len(board) <= 2 and board == sorted(board, key=lambda r: -r["score"])
    assert set(board[0]) >= {"trial", "score", "hyperparameters", "seconds"}
    assert any(line.startswith("trial 1/2") for line in lines)
    assert run.classes == ["a", "b", "c"]
    again = autoorder.load_run(tmp_path / "run")
    assert again.leaderboard() == board
    model = again.best_model()
    assert {t.name for t in model.inputs} == {"image", "order"}
    images = np.random.default_rng(0).integers(0, 256, (4, 24, 24, 3)).astype(np.uint8)  # resized to 16 px like the search
    probs = again.predict(images, [1, 2, 3, 0])
    assert probs.shape == (4, 3) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert again.predict(images).shape == (4, 3)  # orders unknown
    with pytest.raises(DataError, match="one order per image"):
        again.predict(images, [1, 2])
    with pytest.raises(DataError, match=r"shape \(n, height, width, 3\)"):
        again.predict(images[..., 0])


def test_bad_config_and_overrides_are_named(tmp_path):
    with pytest.raises(ConfigError, match="must be a path, a dict or a Config"):
        autoorder.search(42, tmp_path / "run")
    with pytest.raises(ConfigError, match=r"'tuner.max_trials' key .* must be an int >= 1"):
        autoorder.search(_config(tmp_path), tmp_path / "run", overrides={"tuner.max_trials": 0})


def test_benchmark_takes_repeats_and_seeds_as_documented(monkeypatch, tmp_path):
    import autoorder.api as api

    seen = {}
    monkeypatch.setattr(api, "run_benchmark", lambda cfg, out, **kw: seen.update(kw) or "result")
    assert autoorder.benchmark(_config(tmp_path), tmp_path / "b", seeds=5, repeats=5) == "result"
    assert seen["seeds"] == 5 and seen["repeats"] == 5
