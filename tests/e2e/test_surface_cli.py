"""What a user reaches for after a search, through the CLI: evaluate, predict --proba / --out -,
export (SavedModel, LiteRT, ONNX) reloaded and compared, files others can read, growing a run.

One tiny search (16 px, one trial of one epoch, an order-aware FiLM head, so that the exported
graphs carry the order lookup) serves every test; the growth test works on a copy of it.
Class names that look like numbers or formulas (`-1`, `+2`, `=x`) show the CSV escaping.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import stat
import warnings

import keras
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from autoorder.cli import main
from tests.helpers import simple_dataset

pytestmark = pytest.mark.slow
CLASSES = ("-1", "+2", "=x")


def _cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    root = tmp_path_factory.mktemp("surface")
    manifest = simple_dataset(root / "data", classes=CLASSES, objects_per_class=5)
    config = {
        "data": {"manifest": "data/manifest.csv", "image_size": 16},
        "space": {"backbones": "tiny_cnn", "weights": None, "freeze": "none", "head_depth": [0, 1], "order_encodings": "film",
                  "learning_rate": [0.01, 0.003], "batch_size": 8},
        "tuner": {"max_trials": 1, "epochs": 1, "seed": 0, "patience": 0},
        "plugins": {"paths": [], "entry_points": False},
    }
    cfg = root / "search.yaml"
    cfg.write_text(yaml.safe_dump(config))
    old = os.umask(0o022)
    try:
        r = _cli("search", cfg, "--out", root / "run")
    finally:
        os.umask(old)
    assert r.exit_code == 0, r.output
    return root, cfg, manifest


def _unescape(cell: str) -> str:
    return cell[1:] if cell.startswith("'=") else cell


# ----- evaluate ------------------------------------------------------------------------------
def test_evaluate_scores_the_best_model_on_a_labelled_manifest(searched):
    root, _, manifest = searched
    r = _cli("evaluate", root / "run", manifest, "--out", root / "eval.json")
    assert r.exit_code == 0, r.output
    assert "balanced accuracy" in r.stdout and "confusion matrix" in r.stdout
    ev = json.loads((root / "eval.json").read_text())
    assert {"accuracy", "balanced_accuracy", "per_class", "per_order", "per_object", "confusion_matrix"} <= set(ev)
    assert set(ev["per_class"]) == set(CLASSES)
    assert all(m["support"] == 15 and set(m) == {"precision", "recall", "f1", "support"} for m in ev["per_class"].values())
    assert set(ev["per_order"]) == {"1", "2", "3"} and sum(m["n"] for m in ev["per_order"].values()) == 45
    assert ev["per_object"]["objects"] == 15 and 0.0 <= ev["per_object"]["accuracy"] <= 1.0
    cm = np.array(ev["confusion_matrix"]["matrix"])
    assert cm.shape == (3, 3) and cm.sum() == 45 and cm.trace() / 45 == pytest.approx(ev["accuracy"])
    assert ev["balanced_accuracy"] == pytest.approx(np.mean(np.diag(cm) / cm.sum(axis=1)))
    # The same decoding and predictions as `predict`.
    r = _cli("predict", root / "run", manifest, "--out", root / "eval_pred.csv")
    assert r.exit_code == 0, r.output
    truth = {row["image"]: row["label"] for row in csv.DictReader(manifest.open())}
    rows = list(csv.DictReader((root / "eval_pred.csv").open()))
    assert np.mean([_unescape(row["predicted"]) == truth[row["image"]] for row in rows]) == pytest.approx(ev["accuracy"])
    # Again: refused without --overwrite; a label the run never saw is refused before any work.
    assert _cli("evaluate", root / "run", manifest, "--out", root / "eval.json").exit_code == 1
    other = root / "data" / "other.csv"
    other.write_text("image,label,order,object_id\nimg/-10_1.png,zebra,1,z\n")
    r = _cli("evaluate", root / "run", other)
    assert r.exit_code == 1 and "not classes of the run" in r.output and "'zebra'" in r.output


# ----- predict -------------------------------------------------------------------------------
def test_predict_to_stdout_with_one_probability_column_per_class(searched):
    root, _, manifest = searched
    r = _cli("predict", root / "run", manifest, "--out", "-", "--proba")
    assert r.exit_code == 0, r.output
    assert "45 predictions written to stdout" in r.stderr and "written" not in r.stdout
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    classes = json.loads((root / "run" / "labels.json").read_text())
    cols = [f"probability_{c}" for c in classes]
    assert len(rows) == 45 and list(rows[0])[-3:] == cols
    for row in rows:
        probs = [float(row[c]) for c in cols]
        assert sum(probs) == pytest.approx(1.0, abs=1e-4)
        assert float(row["probability"]) == pytest.approx(max(probs), abs=1e-6)
        assert _unescape(row["predicted"]) == classes[int(np.argmax(probs))]
    # Numbers stay numbers; only formula-like text is escaped.
    ids = {row["object_id"] for row in rows}
    assert {"-10", "+20", "'=x0"} <= ids and "'-10" not in ids


# ----- export --------------------------------------------------------------------------------
def _reload_savedmodel(path, x):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))  # kept while serving: its variables live as long as it does
    return np.asarray(loaded.serve(x))


def _reload_litert(path, x):
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter announces its successor, ai_edge_litert
        runner = tf.lite.Interpreter(model_path=str(path)).get_signature_runner()
    (out,) = runner(**x).values()
    return out


def _reload_onnx(path, x):
    ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed: pip install 'autoorder[onnx]'")
    return ort.InferenceSession(str(path)).run(None, x)[0]


EXPORTS = {"savedmodel": ("savedmodel", _reload_savedmodel), "litert": ("model.tflite", _reload_litert),
           "onnx": ("model.onnx", _reload_onnx)}


@pytest.mark.parametrize("fmt", sorted(EXPORTS))
def test_export_reloads_and_matches_the_keras_model(searched, fmt):
    if fmt == "onnx":
        for module in ("tf2onnx", "onnx", "onnxruntime"):
            pytest.importorskip(module, reason="the onnx extra is not installed: pip install 'autoorder[onnx]'")
    root, _, _ = searched
    name, reload = EXPORTS[fmt]
    out = root / "exports" / name
    r = _cli("export", root / "run", "--format", fmt, "--out", out)
    assert r.exit_code == 0, r.output
    assert f"wrote {out}" in r.stdout
    model = keras.saving.load_model(root / "run" / "best_model.keras", safe_mode=True)
    rng = np.random.default_rng(0)
    # Orders 0 (unknown) and 7 (never seen in training) take the lookup's out-of-vocabulary path.
    x = {"image": rng.integers(0, 256, (6, 16, 16, 3)).astype(np.float32), "order": np.array([1, 2, 3, 0, 7, 2], np.int32)}
    expected = model.predict(x, verbose=0)
    got = reload(out, x)
    assert got.shape == expected.shape == (6, 3)
    assert np.abs(got - expected).max() < 1e-4
    r = _cli("export", root / "run", "--format", fmt, "--out", out)
    assert r.exit_code == 1 and "exists" in r.output
    if fmt == "savedmodel":  # a folder replaced by another (the files: one os.replace)
        assert _cli("export", root / "run", "--format", fmt, "--out", out, "--overwrite").exit_code == 0
        assert np.abs(reload(out, x) - expected).max() < 1e-4
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".tmp")] == []


def test_export_refuses_a_litert_path_without_tflite(searched):
    root, _, _ = searched
    r = _cli("export", root / "run", "--format", "litert", "--out", root / "model.lite")
    assert r.exit_code == 1 and ".tflite" in r.output and not (root / "model.lite").exists()


# ----- files others can read -----------------------------------------------------------------
def test_every_file_of_a_run_honours_the_umask(searched):
    root, _, manifest = searched
    run = root / "run"
    old = os.umask(0o022)
    try:
        assert _cli("report", run).exit_code == 0
        assert _cli("predict", run, manifest, "--out", root / "umask.csv").exit_code == 0
    finally:
        os.umask(old)
    files = ["results.json", "trials.csv", "report.md", "best_model.keras", "labels.json", "split.csv",
             "test_predictions.csv", "config.resolved.yaml", "run.json"]
    paths = [run / f for f in files] + sorted((run / "plots").glob("*.png")) + [root / "umask.csv"]
    assert len(paths) > len(files) + 1  # plots were written
    modes = {str(p.relative_to(root)): oct(stat.S_IMODE(p.stat().st_mode)) for p in paths}
    assert set(modes.values()) == {"0o644"}, modes


# ----- growing a search ----------------------------------------------------------------------
def _tree(folder):
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_search_grows_and_a_finished_one_has_nothing_to_do(searched, tmp_path):
    root, cfg, _ = searched
    run = tmp_path / "run"
    shutil.copytree(root / "run", run)
    first = (run / "tuner" / "trial_0" / "trial.json").read_bytes()
    # 1 -> 2 trials: trial 0 is kept, only trial 1 runs.
    r = _cli("search", cfg, "--out", run, "--set", "tuner.max_trials=2")
    assert r.exit_code == 0, r.output
    assert "trial 2/2 [id 1]" in r.stderr and "[id 0]" not in r.stderr
    assert "Reloading Tuner" not in r.output and "Search:" not in r.output  # Keras Tuner's prints: in its logger
    assert [t["id"] for t in json.loads((run / "results.json").read_text())["trials"]] == ["0", "1"]
    assert (run / "tuner" / "trial_0" / "trial.json").read_bytes() == first
    # The same command again: nothing to do, and not a file is rewritten (not even the best model).
    before = _tree(run)
    r = _cli("search", cfg, "--out", run, "--set", "tuner.max_trials=2")
    assert r.exit_code == 0, r.output
    assert "nothing to do" in r.stderr and "trial " not in r.stderr and "exporting" not in r.stderr
    assert "best:" in r.stdout  # the ranking is still shown
    assert _tree(run) == before
    # A spent time budget: nothing to do either, whatever max_trials says; a larger one runs more.
    r = _cli("search", cfg, "--out", run, "--set", "tuner.max_trials=3", "--set", "tuner.time_budget=0.001")
    assert r.exit_code == 0, r.output
    assert "nothing to do" in r.stderr and "tuner.time_budget of 0.001s is spent" in r.stderr
    assert _tree(run) == before
    r = _cli("search", cfg, "--out", run, "--set", "tuner.max_trials=3", "--set", "tuner.time_budget=3600")
    assert r.exit_code == 0, r.output
    assert "trial 3/3 [id 2]" in r.stderr and "[id 1]" not in r.stderr
    assert len(json.loads((run / "results.json").read_text())["trials"]) == 3
    # What defines the search still may not change.
    r = _cli("search", cfg, "--out", run, "--set", "tuner.max_trials=4", "--set", "tuner.epochs=2")
    assert r.exit_code == 1 and "tuner.epochs: 1 -> 2" in r.output and "max_trials" not in r.output
