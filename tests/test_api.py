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
        "space": {"backbones": "tiny_cnn", "freeze": "none", "head_depth": 0, "order_encodings": ["none", "onehot"],
                  "learning_rate": 0.01, "batch_size": 8},
        "tuner": {"max_trials": 2, "epochs": 2, "seed": 0, "patience": 0},
        "plugins": {"paths": [], "entry_points": False},
    }


def test_import_is_light_and_the_api_names_are_public():
    code = "import sys, autoorder; assert 'tensorflow' not in sys.modules; print(sorted(autoorder.__all__))"
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert {"search", "load_run", "benchmark"} <= set(eval(p.stdout))


def test_search_load_run_leaderboard_best_model_and_predict(tmp_path, capsys):
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

    # evaluate: what `autoorder evaluate --out EVAL.json` writes, through predict's decoding.
    ev = again.evaluate(tmp_path / "data" / "manifest.csv")
    assert {"accuracy", "balanced_accuracy", "per_class", "per_order", "per_object", "confusion_matrix"} <= set(ev)
    assert set(ev["per_class"]) == {"a", "b", "c"} and ev["images"] == 45 and ev["per_object"]["objects"] == 15
    # export: the same probabilities from the SavedModel.
    import tensorflow as tf

    path = again.export("savedmodel", tmp_path / "sm")
    loaded = tf.saved_model.load(str(path))
    x = {"image": images[:, :16, :16].astype(np.float32), "order": np.array([1, 2, 3, 0], np.int32)}
    assert np.abs(np.asarray(loaded.serve(x)) - model.predict(x, verbose=0)).max() < 1e-4
    # The same search again, from a YAML file this time: nothing to do, nothing printed.
    import yaml

    cfg = tmp_path / "search.yaml"
    cfg.write_text(yaml.safe_dump(_config(tmp_path)))
    lines.clear()
    same = autoorder.search(cfg, tmp_path / "run", overrides={"tuner.max_trials": 2}, log=lines.append)
    assert same.leaderboard() == board and any(line.startswith("nothing to do") for line in lines)
    assert capsys.readouterr().out == ""  # library code never prints (Keras Tuner's lines included)


def test_bad_config_and_overrides_are_named(tmp_path):
    with pytest.raises(ConfigError, match="must be a path, a dict or a Config"):
        autoorder.search(42, tmp_path / "run")
    with pytest.raises(ConfigError, match=r"'tuner.max_trials' key .* must be an int >= 1"):
        autoorder.search(_config(tmp_path), tmp_path / "run", overrides={"tuner.max_trials": 0})
