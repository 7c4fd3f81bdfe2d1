"""`autoorder report`: report.md and plots from hand-built run folders (no training, no TensorFlow)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from autoorder.cli import main
from autoorder.core.errors import RunError
from autoorder.core.fileio import write_csv
from autoorder.reports.search import (
    metrics_from_predictions,
    read_predictions,
    render_report,
)

ROOT = Path(__file__).resolve().parents[2]


CLASSES = ["bird", "cat", "dog"]


def _trial(tid, status, val, seconds, backbone, freeze, encoding, reason="", **extra):
    hps = {"backbone": backbone, f"{backbone}/freeze": freeze, "head_depth": 1, "head_width": 64,
           "order_encoding": encoding, "learning_rate": 0.001, **extra}
    return {"id": tid, "status": status, "hyperparameters": hps, "val_accuracy": val, "best_epoch": 1,
            "seconds": seconds, "reason": reason}


TRIALS = [
    _trial("0", "COMPLETED", 0.75, 2.0, "tiny_cnn", "all", "onehot"),
    _trial("1", "FAILED", None, 0.4, "tiny_cnn", "block2", "film",
           reason="ValueError: shapes (None, 8) | (None, 4) are incompatible"),
    _trial("2", "COMPLETED", None, 1.1, "tiny_cnn", "none", "gate", reason="no finite val_accuracy"),
    _trial("3", "COMPLETED", 0.9, 3.5, "tiny_cnn", "none", "embedding", **{"embedding/dim": 4}),
    _trial("4", "COMPLETED", 0.6, 5.0, "mobilenet_v3_small", "expanded_conv_6", "none"),
    _trial("10", "COMPLETED", 0.75, 1.0, "mobilenet_v3_small", "all", "none"),  # ties trial 0 (same best epoch), faster: the lower id still first
]


EXPECTED_RANKING = ["3", "0", "10", "4"]


# (order, label, predicted): order 1: 3/4 right, 2: 1/3, 3: 2/2, unknown (empty): 0/1.
PREDICTIONS = [
    (1, "bird", "bird"), (1, "cat", "cat"), (1, "dog", "dog"), (1, "dog", "cat"),
    (2, "bird", "cat"), (2, "cat", "cat"), (2, "dog", "bird"),
    (3, "bird", "bird"), (3, "dog", "dog"),
    ("", "cat", "dog"),
]


def make_run(root: Path, trials=TRIALS, best: bool = True, predictions=PREDICTIONS, classes=CLASSES) -> Path:
    run = root / "run"
    run.mkdir(parents=True)
    best_rec = None
    if best:
        b = next(t for t in trials if t["id"] == EXPECTED_RANKING[0])
        correct = sum(lab == pred for _, lab, pred in predictions)
        best_rec = {"trial": b["id"], "hyperparameters": b["hyperparameters"], "val_accuracy": b["val_accuracy"],
                    "test_accuracy": correct / len(predictions), "test_images": len(predictions),
                    "model": "best_model.keras"}
        write_csv(run / "test_predictions.csv", ["image", "object_id", "order", "label", "predicted", "probability"],
                  [[f"img/{i}.png", f"o{i // 3}", o, lab, pred, 0.8] for i, (o, lab, pred) in enumerate(predictions)])
        (run / "labels.json").write_text(json.dumps(classes), encoding="utf-8")
    results = {
        "autoorder_version": "0.1.0",
        "dataset": {"manifest": "data/manifest.csv", "images": 60, "objects": 20, "classes": classes,
                    "images_per_split": {"train": 42, "val": 9, "test": 9},
                    "objects_per_split": {"train": 14, "val": 3, "test": 3},
                    "order_values_train": [1, 2, 3], "has_order": True, "image_size": 32,
                    "converted_images": {}, "exif_rotated": 0, "skipped_rows": []},
        "trials": trials,
        "ranking": [t for t in EXPECTED_RANKING],
        "best": best_rec,
        "versions": {"autoorder": "0.1.0", "keras": "3.15.1", "numpy": "2.4.6", "python": "3.11.7"},
        "seconds": 13.0,
    }
    (run / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    (run / "config.resolved.yaml").write_text(
        "space:\n  backbones: [tiny_cnn, mobilenet_v3_small]\n  freeze: [all, block2, expanded_conv_6, none]\n"
        "  order_encodings: [none, onehot, embedding, film, gate]\n"
        "tuner: {algorithm: random, max_trials: 6, epochs: 2, seed: 0}\n",
        encoding="utf-8",
    )
    return run


def _section(md: str, heading: str) -> str:
    start = md.index(heading + "\n")
    nxt = re.search(r"\n#{1,3} ", md[start + len(heading):])
    return md[start: start + len(heading) + nxt.start()] if nxt else md[start:]


def _table_rows(text: str) -> list[list[str]]:
    rows = [ln for ln in text.splitlines() if ln.startswith("|")]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", r)[1:-1]] for r in rows[2:]]


@pytest.fixture
def rendered(tmp_path):
    run = make_run(tmp_path)
    path = render_report(run)
    return run, path.read_text(encoding="utf-8")


def test_ranking_table_is_in_order_and_excludes_failed_trials(rendered):
    run, md = rendered
    rows = _table_rows(_section(md, "### Ranking"))
    assert [r[1] for r in rows] == EXPECTED_RANKING
    assert [r[0] for r in rows] == ["1", "2", "3", "4"]
    assert rows[0][2] == "0.9000" and rows[0][4] == "3.5"
    assert "embedding/dim=4" in rows[0][5]
    failed = _table_rows(_section(md, "### Failed trials"))
    assert {r[0] for r in failed} == {"1", "2"}
    reason = next(r[3] for r in failed if r[0] == "1")
    assert reason == r"ValueError: shapes (None, 8) \| (None, 4) are incompatible"  # pipe escaped for GitHub
    assert "**Best: trial 3**" in md


def test_per_order_accuracy_matches_hand_computation(rendered):
    _, md = rendered
    rows = {r[0]: r for r in _table_rows(_section(md, "### Accuracy per upload order"))}
    assert rows["1"][1:5] == ["front", "4", "3", "0.7500"]
    assert rows["2"][1:5] == ["back", "3", "1", "0.3333"]
    assert rows["3"][1:5] == ["other", "2", "2", "1.0000"]
    assert rows["0"][1:5] == ["unknown", "1", "0", "0.0000"]
    assert "6 of 10 test images correct" in md


def test_confusion_matrix_counts(tmp_path):
    rows = read_predictions(make_run(tmp_path))
    m = metrics_from_predictions(rows, CLASSES)
    assert m["matrix"] == [[2, 1, 0], [0, 2, 1], [1, 1, 2]]  # rows true bird/cat/dog, columns predicted
    assert m["per_order"][0]["n"] == 1  # an empty order cell is unknown (0)


def test_score_by_sections_group_trials(rendered):
    _, md = rendered
    enc = {r[0]: r for r in _table_rows(_section(md, "### Order encoding"))}
    assert list(enc) == ["none", "onehot", "embedding", "film", "gate"]  # config order
    assert enc["none"][1:] == ["2", "0", "0.6750", "0.7500"]
    assert enc["film"][1:] == ["1", "1", "-", "-"]
    freeze = [r[0] for r in _table_rows(_section(md, "### Freeze point"))]
    # none/all are shared by every backbone; cut points are named with their backbone.
    assert freeze == ["all", "tiny_cnn/block2", "mobilenet_v3_small/expanded_conv_6", "none"]
    backbones = {r[0]: r[1] for r in _table_rows(_section(md, "### Backbone"))}
    assert backbones == {"tiny_cnn": "4", "mobilenet_v3_small": "2"}


def test_every_referenced_plot_is_a_valid_png(rendered):
    run, md = rendered
    refs = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(refs) == 6
    for ref in refs:
        assert ref.startswith("plots/") and ref.endswith(".png")
        with Image.open(run / ref) as im:
            assert im.format == "PNG"
            assert im.width >= 400 and im.height >= 250
            im.verify()
    assert not list((run / "plots").glob(".*.tmp"))  # atomic writes leave no temporaries


def test_all_failed_run_still_renders(tmp_path):
    trials = [dict(t, status="FAILED", val_accuracy=None, reason="OOM") for t in TRIALS[:3]]
    run = make_run(tmp_path, trials=trials, best=False)
    md = render_report(run).read_text(encoding="utf-8")
    assert "No trial succeeded" in md
    assert "### Ranking" not in md
    assert {r[0] for r in _table_rows(_section(md, "### Failed trials"))} == {"0", "1", "2"}
    assert (run / "plots" / "trials_ranked.png").exists()


def test_class_names_escaped_in_csv_come_back(tmp_path):
    preds = [(1, "=x", "=x"), (2, "-1", "=x")]
    run = make_run(tmp_path, predictions=preds, classes=["-1", "=x"])
    m = metrics_from_predictions(read_predictions(run), ["-1", "=x"])
    assert m["classes"] == ["-1", "=x"] and m["matrix"] == [[0, 1], [0, 1]]


def test_bad_results_files_raise_run_error(tmp_path):
    run = make_run(tmp_path)
    (run / "results.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(RunError, match="results.json"):
        render_report(run)
    (run / "test_predictions.csv").write_text("image,label\nx.png,cat\n", encoding="utf-8")
    with pytest.raises(RunError, match=r"test_predictions\.csv.*'order', 'predicted'"):
        read_predictions(run)


def test_cli_report(tmp_path):
    run = make_run(tmp_path)
    r = CliRunner().invoke(main, ["report", str(run)])
    assert r.exit_code == 0, r.output
    assert str(run / "report.md") in r.output
    assert (run / "report.md").exists()


@pytest.mark.parametrize("damage", ["missing", "corrupt", "no_folder"])
def test_cli_report_bad_results(tmp_path, damage):
    run = make_run(tmp_path)
    if damage == "missing":
        (run / "results.json").unlink()
    elif damage == "corrupt":
        (run / "results.json").write_text('{"trials": [', encoding="utf-8")
    else:
        run = tmp_path / "nope"
    r = CliRunner().invoke(main, ["report", str(run)])
    assert r.exit_code == 1
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:")
    assert ("nope" if damage == "no_folder" else "results.json") in lines[0]
    assert "Traceback" not in r.output


def test_render_does_not_import_tensorflow(tmp_path):
    run = make_run(tmp_path)
    code = (
        "import sys; from autoorder.reports.search import render_report; render_report(sys.argv[1]); "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'framework imported'"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    p = subprocess.run([sys.executable, "-c", code, str(run)], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert (run / "report.md").exists()


def test_report_shows_the_baseline_and_warnings(tmp_path):
    run = make_run(tmp_path)
    res = json.loads((run / "results.json").read_text())
    res["baseline"] = {"majority_class": {"label": "b|c", "val_accuracy": 0.5, "test_accuracy": 0.4}}
    res["warnings"] = ["the best model does not beat <it>"]
    (run / "results.json").write_text(json.dumps(res))
    md = render_report(run).read_text(encoding="utf-8")
    assert "Baseline: always answering the most frequent training class (b\\|c) scores 0.5000 on validation and 0.4000 on test." in md
    assert "**Warning**: the best model does not beat &lt;it&gt;" in md

