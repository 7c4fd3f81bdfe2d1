"""The benchmark report: report.md and plots from a hand-built benchmark.json (no training, no TensorFlow)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from autoorder.benchmarking.summary import summarise
from autoorder.core.errors import RunError
from autoorder.reports.benchmark import render_benchmark_report

ROOT = Path(__file__).resolve().parents[2]
CLASSES = ["bird", "cat", "dog"]
SEEDS = [0, 1, 2]


def fake_data(n_obj: int = 60, seed: int = 0):
    """Objects of 3 views (front, back, other); the last 20 objects are the test split."""
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"o{i}" for i in range(n_obj)], 3)
    y = np.repeat(rng.integers(0, len(CLASSES), n_obj), 3)
    orders = np.tile([1, 2, 3], n_obj)
    orders[-1] = 0  # one test photo of unknown order
    n_train, n_val = 30, 10
    split = np.array(["train"] * 3 * n_train + ["val"] * 3 * n_val + ["test"] * 3 * (n_obj - n_train - n_val))
    d = types.SimpleNamespace(y=y, orders=orders, groups=groups, split=split, classes=CLASSES)
    d.indices = lambda name: np.flatnonzero(split == name)
    return d


def _probs(y: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Probabilities that pick the label where `right`, the next class otherwise."""
    k = len(CLASSES)
    pred = np.where(right, y, (y + 1) % k)
    p = np.full((len(y), k), 0.1)
    p[np.arange(len(y)), pred] = 0.8
    return p


def fake_runs(d, *, aware_back: float, io_back: float = 0.4, seed: int = 0) -> dict:
    """Both models right on most front/other views; on back views image-only is right with
    probability `io_back`, order-aware with `aware_back`. Shuffled orders cost the aware model."""
    rng = np.random.default_rng(seed)
    idx = d.indices("test")
    y, back = d.y[idx], d.orders[idx] == 2
    runs: dict = {"image_only": [], "order_aware": []}
    for _ in SEEDS:
        base = rng.random(len(y)) < 0.9
        io_right = np.where(back, rng.random(len(y)) < io_back, base)
        aw_right = np.where(back, rng.random(len(y)) < aware_back, base)
        sh_right = np.where(back, rng.random(len(y)) < io_back * 0.8, base & (rng.random(len(y)) < 0.9))
        p_io = _probs(y, io_right)
        runs["image_only"].append({"probs": p_io, "probs_shuffled": p_io})
        runs["order_aware"].append({"probs": _probs(y, aw_right), "probs_shuffled": _probs(y, sh_right)})
    return runs


def _trial(tid, status, val, backbone, freeze, encoding, reason=""):
    hps = {"backbone": backbone, f"{backbone}/freeze": freeze, "head_depth": 1, "head_width": 64,
           "order_encoding": encoding, "learning_rate": 0.001, "tuner/epochs": 2}
    return {"id": tid, "status": status, "hyperparameters": hps, "val_accuracy": val, "best_epoch": 1,
            "seconds": 3.0, "reason": reason}


IO_TRIALS = [
    _trial("0", "COMPLETED", 0.70, "tiny_cnn", "all", "none"),
    _trial("1", "COMPLETED", 0.74, "tiny_cnn", "none", "none"),
    _trial("2", "FAILED", None, "mobilenet_v3_small", "expanded_conv_6", "none", reason="OOM"),
]
OA_TRIALS = [
    _trial("0", "COMPLETED", 0.81, "tiny_cnn", "none", "film"),
    _trial("1", "COMPLETED", 0.77, "tiny_cnn", "all", "onehot"),
    _trial("2", "COMPLETED", 0.79, "mobilenet_v3_small", "expanded_conv_6", "embedding"),
    _trial("3", "COMPLETED", None, "tiny_cnn", "none", "gate", reason="no finite val_accuracy"),
]


def _best(trials, test_accuracy, d):
    b = max((t for t in trials if t["val_accuracy"] is not None), key=lambda t: t["val_accuracy"])
    idx = d.indices("test")
    per = {str(o): {"n": int((d.orders[idx] == o).sum()), "accuracy": 0.8} for o in sorted(set(d.orders[idx].tolist()))}
    return {"trial": b["id"], "hyperparameters": b["hyperparameters"], "val_accuracy": b["val_accuracy"],
            "test_accuracy": test_accuracy, "test_images": int(len(idx)), "test_per_order": per,
            "model": "best_model.keras"}


def make_benchmark(root: Path, *, aware_back: float = 0.95, io_back: float = 0.4, seed: int = 0) -> tuple[Path, dict]:
    d = fake_data()
    figures = summarise(d, fake_runs(d, aware_back=aware_back, io_back=io_back, seed=seed), SEEDS)
    bench = {
        "dataset": {"manifest": "data/glyph_views/manifest.csv", "images": 180, "objects": 60, "classes": CLASSES,
                    "images_per_split": {"train": 90, "val": 30, "test": 60},
                    "objects_per_split": {"train": 30, "val": 10, "test": 20},
                    "order_values_train": [1, 2, 3], "has_order": True, "image_size": 32,
                    "converted_images": {}, "exif_rotated": 0, "skipped_rows": [], "fingerprint": "abc123"},
        "command": "autoorder benchmark benchmarks/glyph_views.yaml --out benchmarks/glyph_views --seeds 3",
        "seeds": SEEDS,
        "searches": {
            "image_only": {"run_dir": "image_only", "best": _best(IO_TRIALS, 0.72, d), "trials": IO_TRIALS,
                           "max_trials": 4, "epochs": 2},
            "order_aware": {"run_dir": "order_aware", "best": _best(OA_TRIALS, 0.80, d), "trials": OA_TRIALS,
                            "max_trials": 4, "epochs": 2},
        },
        **figures,
        "versions": {"autoorder": "0.1.0", "tensorflow": "2.20.0", "keras": "3.15.1", "keras-tuner": "1.4.7",
                     "numpy": "2.4.6", "python": "3.11.7"},
        "machine": {"platform": "Linux-6.8-x86_64", "processor": "x86_64", "cpus": 16},
        "date": "2025-01-31",
        "seconds": 1234.5,
    }
    out = root / "bench"
    out.mkdir(parents=True)
    # Through JSON, as run_benchmark writes it (numpy scalars and NaN become plain values).
    from autoorder.core.fileio import write_json

    write_json(out / "benchmark.json", bench)
    return out, json.loads((out / "benchmark.json").read_text(encoding="utf-8"))


def _section(md: str, heading: str) -> str:
    start = md.index(heading)
    nxt = re.search(r"\n#{1,3} ", md[start + len(heading):])
    return md[start: start + len(heading) + nxt.start()] if nxt else md[start:]


def _table_rows(text: str) -> list[list[str]]:
    rows = [ln for ln in text.splitlines() if ln.startswith("|")]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", r)[1:-1]] for r in rows[2:]]


def _pct(x):
    return f"{100 * x:.1f}%"


def _ci(ci):
    """An accuracy interval as the report prints it: clipped to [0%, 100%]."""
    return f"[{_pct(max(0.0, ci['low']))}, {_pct(min(1.0, ci['high']))}]"


def _pts(x):
    return f"{100 * x:+.1f}"


@pytest.fixture(scope="module")
def gain_case(tmp_path_factory):
    root = tmp_path_factory.mktemp("gain")
    out, bench = make_benchmark(root, aware_back=0.95)
    return out, bench, render_benchmark_report(out).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def null_case(tmp_path_factory):
    root = tmp_path_factory.mktemp("null")
    out, bench = make_benchmark(root, aware_back=0.4, seed=3)
    return out, bench, render_benchmark_report(out).read_text(encoding="utf-8")


def _headline(md: str) -> str:
    return md.split("\n## ", 1)[0]


def test_fixtures_are_the_cases_they_claim(gain_case, null_case):
    g = gain_case[1]["gain"]
    assert g["low"] > 0 and g["bootstrap"]["low"] > 0
    n = null_case[1]["gain"]
    assert n["low"] <= 0 <= n["high"] and n["bootstrap"]["low"] <= 0 <= n["bootstrap"]["high"]


def test_headline_numbers_match_benchmark_json(gain_case):
    _, bench, md = gain_case
    head = _headline(md)
    g = bench["gain"]
    assert f"**{_pts(g['mean'])} points**" in head
    interval = f"[{_pts(g['low'])}, {_pts(g['high'])}] points"
    assert f"its 95% Student-t interval over 3 paired seeds, {interval}, lies entirely above zero" in head
    b = g["bootstrap"]
    assert "Paired bootstrap over the 20 test objects" in head and f"[{_pts(b['low'])}, {_pts(b['high'])}] points" in head
    oa, io = bench["order_aware"]["test_accuracy"], bench["image_only"]["test_accuracy"]
    assert f"order-aware **{_pct(oa['mean'])}** {_ci(oa)}" in head
    assert f"image-only **{_pct(io['mean'])}**" in head
    assert "**Yes.**" in head
    for s in SEEDS:
        assert f"seed {s}: {_pts(g['per_seed'][str(s)])}" in head


def _verdict_and_bootstrap(md: str) -> str:
    """The verdict paragraph and the bootstrap line: the gain of test accuracy and its two intervals."""
    head = _headline(md).split("\n\n")
    return head[1] + "\n" + next(ln for ln in head[2].splitlines() if "Paired bootstrap" in ln)


def test_includes_zero_phrasing_only_when_the_interval_includes_zero(gain_case, null_case):
    text = _verdict_and_bootstrap(gain_case[2])
    assert "includes zero" not in text and "not distinguishable from zero" not in gain_case[2]
    assert "lies entirely above zero" in text
    text = _verdict_and_bootstrap(null_case[2])
    assert "**not distinguishable from zero**" in text and "includes zero." in text
    assert "this interval includes zero" in text  # the bootstrap says so too
    assert "**Yes.**" not in null_case[2]


def test_accuracy_tables_per_seed_and_per_object(gain_case):
    _, bench, md = gain_case
    rows = {r[0]: r for r in _table_rows(_section(md, "### Per image"))}
    for arm, label in (("image_only", "image-only"), ("order_aware", "order-aware")):
        ci = bench[arm]["test_accuracy"]
        assert rows[label][1:3] == [_pct(ci["mean"]), _ci(ci)]
        assert rows[label][3:] == [_pct(ci["per_seed"][str(s)]) for s in SEEDS]
    assert rows["gain (points)"][3:] == [_pts(bench["gain"]["per_seed"][str(s)]) for s in SEEDS]
    rows = {r[0]: r for r in _table_rows(_section(md, "### Per object"))}
    for arm, label in (("image_only", "image-only"), ("order_aware", "order-aware")):
        assert rows[label][1] == _pct(bench[arm]["object_accuracy"]["mean"])
    assert rows["gain (points)"][1] == _pts(bench["object_gain"]["mean"])
    assert "### Per object (20 test objects)" in md


def test_controls_table(gain_case):
    _, bench, md = gain_case
    rows = {r[0]: r for r in _table_rows(_section(md, "## Controls"))}
    c = bench["controls"]
    assert rows["shuffled order at test time"][1] == _pct(c["shuffled_order"]["mean"])
    assert rows["shuffled order at test time"][2] == _ci(c["shuffled_order"])
    assert rows["order-only model"][1] == _pct(c["order_only"]["accuracy"])
    assert rows["majority class"][1] == _pct(c["majority_class"]["accuracy"])
    assert all(len(r[3]) > 20 for r in rows.values())  # every row explains what it shows


def test_per_order_table(gain_case):
    _, bench, md = gain_case
    rows = {r[0]: r for r in _table_rows(_section(md, "## Accuracy per upload order"))}
    assert list(rows) == ["0", "1", "2", "3"]
    assert [rows[k][1] for k in rows] == ["unknown", "front", "back", "other"]
    assert [rows[k][2] for k in rows] == ["1", "20", "20", "19"]  # images per order, not seeds
    for k in rows:
        io, oa = bench["per_order"]["image_only"][k], bench["per_order"]["order_aware"][k]
        assert rows[k][3] == _pct(io["mean"]) and rows[k][5] == _pct(oa["mean"])
        assert rows[k][4] == _ci(io) and rows[k][6] == _ci(oa)
        assert rows[k][7] == _pts(oa["mean"] - io["mean"])


def test_best_configurations_side_by_side(gain_case):
    _, _, md = gain_case
    rows = {r[0]: r[1:] for r in _table_rows(_section(md, "## The two searches"))}
    assert rows["best trial"] == ["1", "0"]
    assert rows["validation accuracy"] == ["74.0%", "81.0%"]
    assert rows["test accuracy (one training)"] == ["72.0%", "80.0%"]
    assert rows["order_encoding"] == ["**none**", "**film**"]
    assert rows["freeze"] == ["none", "none"] and "tuner/epochs" not in rows
    assert rows["trials run"] == ["3 (1 failed or unscored)", "4 (1 failed or unscored)"]


def test_provenance(gain_case):
    _, bench, md = gain_case
    assert bench["command"] in md
    prov = _section(md, "## Provenance")
    assert "2025-01-31" in prov and "1234 s" in prov and "0, 1, 2" in prov and "3.15.1" in prov
    assert "data/glyph_views/manifest.csv" in _section(md, "## Dataset")


def test_every_referenced_plot_is_a_valid_png(gain_case):
    out, _, md = gain_case
    refs = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(refs) == 4
    for ref in refs:
        assert ref.startswith("plots/") and ref.endswith(".png")
        with Image.open(out / ref) as im:
            assert im.format == "PNG" and im.width >= 400 and im.height >= 250
            im.verify()
    assert not list((out / "plots").glob(".*.tmp"))


def test_one_seed_renders_without_a_student_t_interval(tmp_path):
    out, bench = make_benchmark(tmp_path)
    for arm in ("image_only", "order_aware"):
        bench[arm]["test_accuracy"].update(low=None, high=None, per_seed={"0": bench[arm]["test_accuracy"]["per_seed"]["0"]})
    bench["gain"].update(low=None, high=None, per_seed={"0": bench["gain"]["per_seed"]["0"]})
    bench["seeds"] = [0]
    (out / "benchmark.json").write_text(json.dumps(bench), encoding="utf-8")
    md = render_benchmark_report(out).read_text(encoding="utf-8")
    head = _headline(md)
    g = bench["gain"]["bootstrap"]
    assert f"its 95% paired bootstrap interval over test objects, [{_pts(g['low'])}, {_pts(g['high'])}] points" in head
    assert "With a single seed there is no interval over seeds" in head and " n/a" not in head


def test_a_loss_is_reported_as_a_loss(tmp_path):
    out, bench = make_benchmark(tmp_path, aware_back=0.0, io_back=0.95)
    g = bench["gain"]
    assert g["high"] < 0
    head = _headline(render_benchmark_report(out).read_text(encoding="utf-8"))
    assert f"**No, it hurts.** The order-aware model is **{100 * abs(g['mean']):.1f} points** less accurate" in head
    assert "lies entirely below zero" in head


@pytest.mark.parametrize("damage", ["missing", "corrupt", "not_a_benchmark", "no_folder"])
def test_bad_benchmark_json_raises_run_error(tmp_path, damage):
    out, _ = make_benchmark(tmp_path)
    if damage == "missing":
        (out / "benchmark.json").unlink()
    elif damage == "corrupt":
        (out / "benchmark.json").write_text('{"gain": {', encoding="utf-8")
    elif damage == "not_a_benchmark":
        (out / "benchmark.json").write_text('{"trials": []}', encoding="utf-8")
    else:
        out = tmp_path / "nope"
    with pytest.raises(RunError, match="nope" if damage == "no_folder" else r"benchmark\.json"):
        render_benchmark_report(out)
    assert not (out / "report.md").exists()


def test_render_does_not_import_tensorflow(tmp_path):
    out, _ = make_benchmark(tmp_path)
    code = (
        "import sys; from autoorder.reports.benchmark import render_benchmark_report; "
        "render_benchmark_report(sys.argv[1]); "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'framework imported'"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    p = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert (out / "report.md").exists()
