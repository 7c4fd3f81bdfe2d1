"""Reliability end to end: failed trials, time budgets, changed data, foreign and busy folders, hostile models."""

from __future__ import annotations

import csv
import json

import keras
import pytest
from click.testing import CliRunner

from autoorder.cli import main
from autoorder.core.config import from_dict
from autoorder.core.errors import RunError
from autoorder.model.catalog import builtins
from autoorder.registry.table import Registry
from autoorder.run.search import run_search
from tests.helpers import simple_dataset

pytestmark = pytest.mark.slow


class NanEncoding:
    name = "nan_enc"
    uses_order = True

    def build(self, features, order_index, num_buckets, hp):
        return keras.layers.Rescaling(float("nan"), name="poison")(features)


class BrokenEncoding:
    name = "broken"
    uses_order = True

    def build(self, features, order_index, num_buckets, hp):
        raise RuntimeError("a bug in the plugin")


def _registry():
    reg = Registry()
    reg.register_backbone(builtins().backbones["tiny_cnn"].obj)
    reg.register_encoding(builtins().encodings["none"].obj)
    reg.register_encoding(NanEncoding)
    reg.register_encoding(BrokenEncoding)
    return reg


def _cfg(tmp_path, **tuner):
    manifest = simple_dataset(tmp_path / "data", classes=("a", "b"), objects_per_class=4)
    return from_dict(
        {
            "data": {"manifest": str(manifest), "image_size": 16},
            "space": {"backbones": "tiny_cnn", "weights": None, "freeze": "all", "head_depth": 0, "dropout": 0.0,
                      "learning_rate": 0.01, "order_encodings": ["none", "nan_enc", "broken"]},
            "tuner": {"max_trials": 3, "epochs": 2, **tuner},
        },
        "c.yaml",
        tmp_path,
    )


def _tree(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_failed_trials_are_recorded_and_never_ranked(tmp_path):
    res = run_search(_cfg(tmp_path), tmp_path / "run", registry=_registry())
    by_enc = {t.hyperparameters["order_encoding"]: t for t in res.trials}
    assert set(by_enc) == {"none", "nan_enc", "broken"}
    assert by_enc["none"].status == "COMPLETED"
    assert by_enc["nan_enc"].status == "FAILED" and "loss became nan" in by_enc["nan_enc"].reason
    assert by_enc["broken"].status != "COMPLETED" and "a bug in the plugin" in by_enc["broken"].reason
    assert res.ranking == [by_enc["none"].id]
    assert res.best.hyperparameters["order_encoding"] == "none"
    rows = list(csv.DictReader((tmp_path / "run" / "trials.csv").open()))
    assert [r["rank"] for r in rows if r["status"] != "COMPLETED"] == ["", ""]


def test_time_budget_stops_the_search_and_says_so(tmp_path):
    cfg = _cfg(tmp_path, max_trials=50, time_budget=0.001)
    from dataclasses import replace

    cfg = replace(cfg, space=replace(cfg.space, order_encodings=("none",), learning_rate=(0.01, 0.003, 0.001)))
    res = run_search(cfg, tmp_path / "run", registry=_registry())
    assert res.stopped == "time_budget"
    assert len(res.trials) < 50


def test_resume_on_changed_data_is_refused(tmp_path):
    cfg = _cfg(tmp_path)
    from dataclasses import replace

    cfg = replace(cfg, space=replace(cfg.space, order_encodings=("none",)), tuner=replace(cfg.tuner, max_trials=1, epochs=1))
    run_search(cfg, tmp_path / "run", registry=_registry())
    m = tmp_path / "data" / "manifest.csv"
    m.write_text(m.read_text().replace("a0,a,1,a0", "a0,a,2,a0", 1).replace(",1,a0\n", ",2,a0\n", 1))
    with pytest.raises(RunError, match=r"(?s)different data.*What changed:\n  line 2: 'img/a0_1.png': order '1' -> '2'.*--overwrite"):
        run_search(cfg, tmp_path / "run", registry=_registry())
    # --overwrite starts over.
    run_search(cfg, tmp_path / "run", registry=_registry(), overwrite=True)


def test_out_folder_with_foreign_files_is_never_touched(tmp_path):
    cfg = _cfg(tmp_path)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    for overwrite in (False, True):
        with pytest.raises(RunError, match="not an autoorder run"):
            run_search(cfg, out, registry=_registry(), overwrite=overwrite)
    assert (out / "thesis.tex").read_text() == "precious"


def test_a_run_folder_in_use_is_refused_and_left_alone(tmp_path):
    from dataclasses import replace

    from autoorder.benchmarking.protocol import run_benchmark
    from autoorder.core.fileio import folder_lock

    cfg = _cfg(tmp_path)
    cfg = replace(cfg, space=replace(cfg.space, order_encodings=("none",)), tuner=replace(cfg.tuner, max_trials=1, epochs=1))
    out = tmp_path / "run"
    run_search(cfg, out, registry=_registry())
    before = _tree(out)
    # Another process holds the folder (flock locks are per open file, so this stands in for it).
    with folder_lock(out):
        for overwrite in (False, True):
            with pytest.raises(RunError, match=r"in use by another running autoorder process; nothing was changed"):
                run_search(cfg, out, registry=_registry(), overwrite=overwrite)
        with pytest.raises(RunError, match=r"benchmark folder .* in use"):
            run_benchmark(cfg, out, overwrite=True)
    assert _tree(out) == before
    # Released (as the kernel does when a process ends, even by kill -9): --overwrite works again.
    run_search(cfg, out, registry=_registry(), overwrite=True)
    assert (out / "results.json").exists()


def test_cli_search_on_a_folder_in_use_exits_1(tmp_path):
    from autoorder.core.fileio import folder_lock

    cfg = tmp_path / "c.yaml"
    cfg.write_text("data: {manifest: m.csv}\n")
    (tmp_path / "m.csv").write_text("image,label\n")  # found (the CLI checks that before anything else)
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text("{}")  # looks like a run, so --overwrite would clear it
    with folder_lock(run):
        r = CliRunner().invoke(main, ["search", str(cfg), "--out", str(run)])
        assert r.exit_code == 1 and "in use by another running autoorder process" in r.output, r.output
        # The launcher of a distributed search clears the folder itself: under the same lock.
        r = CliRunner().invoke(main, ["search", str(cfg), "--out", str(run), "--workers", "1", "--overwrite"])
        assert r.exit_code == 1 and "in use by another running autoorder process" in r.output, r.output
    assert (run / "run.json").read_text() == "{}"


def test_out_that_is_a_file_is_refused(tmp_path):
    from autoorder.benchmarking.protocol import run_benchmark

    cfg = _cfg(tmp_path)
    out = tmp_path / "out"
    out.write_text("mine")
    with pytest.raises(RunError, match=r"is a file\. Expected a folder for the run"):
        run_search(cfg, out, registry=_registry())
    with pytest.raises(RunError, match=r"is a file\. Expected a folder for the benchmark"):
        run_benchmark(cfg, out)
    assert out.read_text() == "mine"


def test_predict_refuses_a_model_with_a_lambda_layer(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    inp = keras.Input((4,))
    out = keras.layers.Lambda(lambda x: x * 2)(inp)
    keras.Model(inp, out).save(run / "best_model.keras")
    (run / "results.json").write_text(json.dumps({"trials": []}))
    (run / "labels.json").write_text('["a", "b"]')
    (run / "config.resolved.yaml").write_text(
        "data: {manifest: m.csv, columns: {image: image, label: label, order: order, group: object_id}, max_image_pixels: 1000000}\n"
    )
    simple_dataset(tmp_path / "data", classes=("a", "b"), objects_per_class=1)
    r = CliRunner().invoke(main, ["predict", str(run), str(tmp_path / "data" / "manifest.csv"), "--out", str(tmp_path / "p.csv")])
    assert r.exit_code == 1
    assert "cannot be loaded in safe mode" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "p.csv").exists()

