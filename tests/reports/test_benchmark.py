"""The benchmark report: report.md and plots from a benchmark.json built from fake predictions
(no training, no TensorFlow), and the committed version-1 files rendered as what they are."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from autoorder.benchmarking.figures import compute_figures
from autoorder.core.errors import RunError
from autoorder.core.fileio import write_json
from autoorder.reports.benchmark import render_benchmark_report
from autoorder.schema.benchmark import SCHEMA_VERSION
from tests.helpers import fake_predictions

ROOT = Path(__file__).resolve().parents[2]
CLASSES = ["bird", "cat", "dog"]
REPS = 400


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
    _trial("3", "COMPLETED", None, "tiny_cnn", "none", "gate", reason="no finite val_accuracy"),
]


def _best(trials, test_accuracy):
    b = max((t for t in trials if t["val_accuracy"] is not None), key=lambda t: t["val_accuracy"])
    return {"trial": b["id"], "hyperparameters": b["hyperparameters"], "val_accuracy": b["val_accuracy"],
            "test_accuracy": test_accuracy, "test_images": 60, "model": "best_model.keras"}


def make_benchmark(root: Path, *, repeats: int = 3, seeds: int = 2, aware_back: float = 0.95, io_back: float = 0.4,
                   seed: int = 0) -> tuple[Path, dict]:
    figures = compute_figures(fake_predictions(repeats, seeds, 20, CLASSES, io_back=io_back, aware_back=aware_back, seed=seed),
                              reps=REPS)
    for r, rep in enumerate(figures["repeats"]):
        rep.update(split_seed=r, search_seed=r, collapse_below=0.38, view_classifier=0.9 + 0.01 * r, view_chance=1 / 3,
                   searches={"image_only": {"run_dir": f"repeat-{r}/image_only", "best": _best(IO_TRIALS, 0.72),
                                            "trials": IO_TRIALS, "max_trials": 4, "epochs": 2},
                             "order_aware": {"run_dir": f"repeat-{r}/order_aware", "best": _best(OA_TRIALS, 0.80),
                                             "trials": OA_TRIALS, "max_trials": 4, "epochs": 2}},
                   retrains={"image_only": {str(s): {"best_val_accuracy": 0.7, "best_epoch": 2, "epochs": 2, "converged": True}
                                            for s in rep["seeds"]}})
    bench = {
        "schema_version": SCHEMA_VERSION,
        "dataset": {"manifest": "data/glyph_views/manifest.csv", "images": 180, "objects": 60, "classes": CLASSES,
                    "images_per_split": {"train": 90, "val": 30, "test": 60},
                    "objects_per_split": {"train": 30, "val": 10, "test": 20}, "image_size": 32, "name": "glyph-views"},
        "command": f"autoorder benchmark glyph.yaml --out bench --repeats {repeats} --seeds {seeds}",
        **figures,
        "view_classifier": {"what": "logistic regression on 8x8 grayscale pixels", "accuracy": 0.91,
                            "per_repeat": [0.9 + 0.01 * r for r in range(repeats)], "chance": 1 / 3},
        "predictions": "predictions.csv.gz",
        "versions": {"autoorder": "0.3.0", "keras": "3.15.1"},
        "machine": {"platform": "Linux-6.8-x86_64", "cpus": 16},
        "date": "2025-01-31",
        "seconds": 1234.5,
        "warnings": ["repeat 1, order_aware: 1 of 2 retraining(s) collapsed"],
    }
    out = root / "bench"
    out.mkdir(parents=True)
    write_json(out / "benchmark.json", bench)  # as run_benchmark writes it (NaN becomes null)
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
    return f"[{_pct(ci['low'])}, {_pct(ci['high'])}]"


def _pts(x):
    return f"{100 * x:+.1f}"


def _headline(md: str) -> str:
    return md.split("\n## ", 1)[0]


@pytest.fixture(scope="module")
def gain_case(tmp_path_factory):
    out, bench = make_benchmark(tmp_path_factory.mktemp("gain"))
    return out, bench, render_benchmark_report(out).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def null_case(tmp_path_factory):
    out, bench = make_benchmark(tmp_path_factory.mktemp("null"), aware_back=0.4, seed=3)
    return out, bench, render_benchmark_report(out).read_text(encoding="utf-8")


def test_fixtures_are_the_cases_they_claim(gain_case, null_case):
    assert gain_case[1]["gain"]["low"] > 0
    n = null_case[1]["gain"]
    assert n["low"] <= 0 <= n["high"]


def test_headline_numbers_match_benchmark_json(gain_case):
    _, bench, md = gain_case
    head = _headline(md)
    g = bench["gain"]
    assert f"**Yes.** Knowing the upload order raises per-photo test accuracy by **{_pts(g['mean'])} points**" in head
    assert f"its 95% interval, [{_pts(g['low'])}, {_pts(g['high'])}] points, lies entirely above zero" in head
    assert f"P(gain > 0) = {g['p_positive']:.3f}" in head
    oa, io = bench["order_aware"]["test_accuracy"], bench["image_only"]["test_accuracy"]
    assert f"order-aware **{_pct(oa['mean'])}** {_ci(oa)}" in head and f"image-only **{_pct(io['mean'])}** {_ci(io)}" in head
    assert "mean over 3 repeats x 2 seeds" in head
    for r, v in enumerate(g["per_repeat"]):
        assert f"repeat {r}: {_pts(v)}" in head
    assert "another split of these photos, another search with the same budget" in head
    assert "91.0% of test photos" in head


def test_includes_zero_phrasing_only_when_the_interval_includes_zero(gain_case, null_case):
    assert "not distinguishable from zero" not in gain_case[2]
    head = _headline(null_case[2])
    assert "**Not established.**" in head and "**not distinguishable from zero**" in head and "includes zero" in head
    assert "**Yes.**" not in null_case[2]


def test_accuracy_tables_per_repeat_per_object_and_balanced(gain_case):
    _, bench, md = gain_case
    rows = {r[0]: r for r in _table_rows(_section(md, "### Per photo"))}
    for arm, label in (("image_only", "image-only"), ("order_aware", "order-aware")):
        ci = bench[arm]["test_accuracy"]
        assert rows[label][1:3] == [_pct(ci["mean"]), _ci(ci)]
        assert rows[label][3:] == [_pct(v) for v in ci["per_repeat"]]
    assert rows["gain (points)"][3:] == [_pts(v) for v in bench["gain"]["per_repeat"]]
    rows = {r[0]: r for r in _table_rows(_section(md, "### Per object"))}
    assert rows["gain (points)"][1] == _pts(bench["object_gain"]["mean"])
    rows = {r[0]: r for r in _table_rows(_section(md, "### Balanced accuracy"))}
    assert rows["order-aware"][1] == _pct(bench["order_aware"]["balanced_accuracy"]["mean"])
    rows = _table_rows(_section(md, "### Every repeat and seed"))
    assert len(rows) == 3 * 2
    first = bench["repeats"][0]
    s = str(first["seeds"][0])
    assert rows[0][:4] == ["0", "0", "0", s] and rows[0][-1] == _pts(first["gain"][s])


def test_controls_table(gain_case):
    _, bench, md = gain_case
    rows = {r[0]: r for r in _table_rows(_section(md, "## Controls"))}
    c = bench["controls"]
    assert rows["shuffled order at test time"][1:3] == [_pct(c["shuffled_order"]["mean"]), _ci(c["shuffled_order"])]
    assert rows["constant order (architecture only)"][1] == _pct(c["architecture_only"]["mean"])
    for level in ("1%", "5%", "20%"):
        assert rows[f"orders of {level} of test objects permuted"][1] == _pct(c["noncompliance"]["levels"][level]["mean"])
    assert rows["every order unknown (0)"][1] == _pct(c["noncompliance"]["levels"]["unknown"]["mean"])
    assert rows["majority class"][1] == _pct(c["majority_class"]["mean"])
    assert all(len(r[3]) > 20 for r in rows.values())  # every row explains what it shows
    assert "points over image-only (the architecture)" in _section(md, "## Controls")


def test_per_order_and_per_class_tables(gain_case):
    _, bench, md = gain_case
    rows = {r[0]: r for r in _table_rows(_section(md, "## Accuracy per upload order"))}
    assert list(rows) == ["0", "1", "2", "3"] and [rows[k][1] for k in rows] == ["unknown", "front", "back", "other"]
    assert [rows[k][2] for k in rows] == ["3", "60", "60", "57"]  # photos over the 3 repeats, not seeds
    for k in rows:
        io, oa = bench["per_order"]["image_only"][k], bench["per_order"]["order_aware"][k]
        assert rows[k][3:8] == [_pct(io["mean"]), _ci(io), _pct(oa["mean"]), _ci(oa), _pts(oa["mean"] - io["mean"])]
    rows = {r[0]: r for r in _table_rows(_section(md, "## Accuracy per class"))}
    assert list(rows) == CLASSES
    assert rows["cat"][2] == _pct(bench["per_class"]["image_only"]["cat"]["mean"])


def test_view_classifier_searches_method_and_provenance(gain_case):
    _, bench, md = gain_case
    view = _section(md, "## The view classifier")
    assert "**91.0%**" in view and "33.3%" in view and "90.0%, 91.0%, 92.0%" in view
    rows = _table_rows(_section(md, "## The searches"))
    assert len(rows) == 6 and rows[1][:2] == ["0", "order-aware"] and "order_encoding=film" in rows[1][6]
    method = _section(md, "## How it was measured")
    assert "3 outer repeats" in method and f"{REPS} resamples" in method and "predictions.csv.gz" in method
    prov = _section(md, "## Provenance")
    assert bench["command"] in md and "2025-01-31" in prov and "1234 s" in prov and "3 repeats x 2 seeds" in prov
    assert "> **Warning**: repeat 1, order_aware" in md


def test_every_referenced_plot_is_a_valid_png(gain_case):
    out, _, md = gain_case
    refs = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert {Path(r).stem for r in refs} == {"accuracy", "gain", "accuracy_by_order", "accuracy_by_class", "trials"}
    for ref in refs:
        with Image.open(out / ref) as im:
            assert im.format == "PNG" and im.width >= 400 and im.height >= 250
            im.verify()
    assert not list((out / "plots").glob(".*.tmp"))


def test_one_repeat_says_what_its_interval_does_not_cover(tmp_path):
    out, bench = make_benchmark(tmp_path, repeats=1, seeds=3)
    md = render_benchmark_report(out).read_text(encoding="utf-8")
    head = _headline(md)
    assert "not over another split or search. Rerun with `--repeats 5`" in head
    rows = {r[0]: r for r in _table_rows(_section(md, "### Per photo"))}
    seeds = [str(s) for s in bench["repeats"][0]["seeds"]]
    assert rows["gain (points)"][3:] == [_pts(bench["repeats"][0]["gain"][s]) for s in seeds]  # one column per seed
    assert "### Every repeat and seed" not in md
    assert _table_rows(_section(md, "## The searches"))[0][0] == "run folder"  # side by side


def test_a_loss_is_reported_as_a_loss(tmp_path):
    out, bench = make_benchmark(tmp_path, aware_back=0.0, io_back=0.95)
    g = bench["gain"]
    assert g["high"] < 0
    head = _headline(render_benchmark_report(out).read_text(encoding="utf-8"))
    assert f"**No, it hurts.** The order-aware model is **{100 * abs(g['mean']):.1f} points** less accurate" in head


@pytest.mark.parametrize("src", sorted((ROOT / "tests" / "data" / "benchmark-v1").glob("*.json")), ids=lambda p: p.stem)
def test_version_1_benchmarks_render_as_version_1(tmp_path, src):
    raw = json.loads(src.read_text())
    assert raw.get("schema_version", 1) == 1
    shutil.copy(src, tmp_path / "benchmark.json")
    md = render_benchmark_report(tmp_path).read_text(encoding="utf-8")
    assert "> **Version 1.**" in md and "## How it was measured (version 1)" in md
    assert f"**{_pts(raw['gain']['mean'])} points**" in _headline(md)
    assert f"[{_pts(raw['gain']['low'])}, {_pts(raw['gain']['high'])}] points" in _headline(md)
    rows = {r[0]: r for r in _table_rows(_section(md, "### Per photo"))}
    assert rows["gain (points)"][3:] == [_pts(raw["gain"]["per_seed"][s]) for s in map(str, raw["seeds"])]


@pytest.mark.parametrize("damage", ["missing", "corrupt", "not_a_benchmark", "no_folder"])
def test_bad_benchmark_json_raises_run_error(tmp_path, damage):
    out, _ = make_benchmark(tmp_path, repeats=1)
    if damage == "missing":
        (out / "benchmark.json").unlink()
    elif damage == "corrupt":
        (out / "benchmark.json").write_text('{"gain": {', encoding="utf-8")
    elif damage == "not_a_benchmark":
        (out / "benchmark.json").write_text('{"trials": []}', encoding="utf-8")
    else:
        out = tmp_path / "nope"
    (out / "report.md").unlink(missing_ok=True) if out.exists() else None
    with pytest.raises(RunError, match="nope" if damage == "no_folder" else r"benchmark\.json"):
        render_benchmark_report(out)
    assert not (out / "report.md").exists()


def test_render_does_not_import_tensorflow(tmp_path):
    out, _ = make_benchmark(tmp_path, repeats=2)
    code = (
        "import sys; from autoorder.reports.benchmark import render_benchmark_report; "
        "render_benchmark_report(sys.argv[1]); "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'framework imported'"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    p = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert (out / "report.md").exists()
