"""End to end through the CLI: generate data, search, resume, load the model elsewhere, predict."""

import csv
import json
import re
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from autoorder.cli import main
from autoorder.core.errors import DataError

pytestmark = pytest.mark.slow


def _run(args):
    r = CliRunner().invoke(main, [str(a) for a in args])
    return r.exit_code, r.output  # click >= 8.2: stdout and stderr together


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    code, out = _run(["datasets", "make", "glyph-views", "--out", root / "data", "--objects", 24, "--image-size", 16, "--classes", "bdpq"])
    assert code == 0, out
    cfg = root / "search.yaml"
    cfg.write_text(textwrap.dedent("""
        data:
          manifest: data/manifest.csv
          image_size: 16
          split: {val: 0.2, test: 0.2, seed: 0}
        space:
          backbones: tiny_cnn
          weights: null
          freeze: [all, none]
          head_depth: [0, 1]
          order_encodings: [none, film]
          batch_size: 16
        tuner: {max_trials: 2, epochs: 1, seed: 0}
    """))
    code, out = _run(["search", cfg, "--out", root / "run"])
    assert code == 0, out
    return root, cfg, out


def test_search_writes_the_run_folder(searched):
    root, _, out = searched
    run = root / "run"
    for name in ("config.resolved.yaml", "results.json", "trials.csv", "best_model.keras", "labels.json", "split.csv"):
        assert (run / name).exists(), name
    res = json.loads((run / "results.json").read_text())
    assert len(res["trials"]) == 2
    assert res["best"]["trial"] in res["ranking"]
    assert 0.0 <= res["best"]["test_accuracy"] <= 1.0
    # The floor any model must beat: always the most frequent training class (4 balanced classes here).
    base = res["baseline"]["majority_class"]
    assert base["label"] in {"b", "d", "p", "q"} and 0.0 <= base["test_accuracy"] <= 0.5
    assert f"baseline: always {base['label']!r}" in out
    assert json.loads((run / "labels.json").read_text()) == ["b", "d", "p", "q"]
    assert "trial 2/2" in out and "best:" in out
    # The export line names the best trial by the id the progress lines and trials.csv use.
    best = res["best"]["trial"]
    assert f"exporting the best model (trial id {best}," in out
    assert re.search(rf"trial \d/2 \[id {best}\]  val_accuracy", out), out
    # No object is in two splits.
    rows = list(csv.DictReader((run / "split.csv").open()))
    split_of = {}
    for r in rows:
        assert split_of.setdefault(r["object_id"], r["split"]) == r["split"]


def test_rerun_of_a_finished_search_has_nothing_to_do(searched):
    root, cfg, _ = searched
    before = (root / "run" / "trial_seconds.json").read_text()
    model = (root / "run" / "best_model.keras").stat().st_mtime_ns
    code, out = _run(["search", cfg, "--out", root / "run"])
    assert code == 0, out
    assert "nothing to do" in out and "trial 1/2" not in out and "exporting" not in out
    assert (root / "run" / "trial_seconds.json").read_text() == before
    assert (root / "run" / "best_model.keras").stat().st_mtime_ns == model


def test_resume_with_changed_config_is_refused(searched):
    root, cfg, _ = searched
    code, out = _run(["search", cfg, "--out", root / "run", "--set", "tuner.epochs=2"])
    assert code == 1
    assert "different config" in out and "tuner.epochs: 1 -> 2" in out and "Traceback" not in out


def test_model_loads_in_a_fresh_process_in_safe_mode(searched):
    root, _, _ = searched
    code = textwrap.dedent(f"""
        import os; os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        import keras, numpy as np
        m = keras.saving.load_model({str(root / "run" / "best_model.keras")!r}, safe_mode=True)
        names = sorted(t.name for t in m.inputs)
        p = m.predict({{"image": np.zeros((2, 16, 16, 3), "float32"), "order": np.array([1, 5], "int32")}}, verbose=0)
        print(names, p.shape, round(float(p.sum()), 3))
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "['image', 'order'] (2, 4) 2.0" in r.stdout


def test_predict_writes_one_row_per_image(searched):
    root, _, _ = searched
    out_csv = root / "pred.csv"
    code, out = _run(["predict", root / "run", root / "data" / "manifest.csv", "--out", out_csv])
    assert code == 0, out
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 72 and {r["predicted"] for r in rows} <= {"b", "d", "p", "q"}
    assert all(0.0 <= float(r["probability"]) <= 1.0 for r in rows)
    # Object-level columns: one prediction per object, shared by its photos.
    by_object = {}
    for r in rows:
        assert by_object.setdefault(r["object_id"], (r["object_predicted"], r["object_probability"])) == (
            r["object_predicted"],
            r["object_probability"],
        )
    assert len(by_object) == 24 and {p for p, _ in by_object.values()} <= {"b", "d", "p", "q"}
    code, out = _run(["predict", root / "run", root / "data" / "manifest.csv", "--out", out_csv])
    assert code == 1 and "exists" in out


def test_predict_without_object_ids_gives_photo_predictions_only(searched):
    root, _, _ = searched
    src = list(csv.DictReader((root / "data" / "manifest.csv").open()))
    lines = ["image,order"] + [f"{r['image']},{r['order']}" for r in src[:5]]
    (root / "data" / "new.csv").write_text("\n".join(lines) + "\n")
    code, out = _run(["predict", root / "run", root / "data" / "new.csv", "--out", root / "new_pred.csv"])
    assert code == 0, out
    rows = list(csv.DictReader((root / "new_pred.csv").open()))
    assert len(rows) == 5 and list(rows[0]) == ["image", "order", "predicted", "probability"]


def test_predict_in_small_chunks_gives_the_same_rows_and_lists_every_bad_image(searched, monkeypatch):
    import autoorder.run.predict as P

    root, _, _ = searched
    manifest = root / "data" / "manifest.csv"
    P.predict_manifest(root / "run", manifest, root / "whole.csv")
    monkeypatch.setattr(P, "CHUNK", 5)
    lines = []
    P.predict_manifest(root / "run", manifest, root / "chunked.csv", log=lines.append)
    whole = list(csv.DictReader((root / "whole.csv").open()))
    chunked = list(csv.DictReader((root / "chunked.csv").open()))
    assert [r["predicted"] for r in chunked] == [r["predicted"] for r in whole]
    assert all(abs(float(a["probability"]) - float(b["probability"])) < 1e-5 for a, b in zip(chunked, whole))
    # Two bad images in different chunks: both named, nothing written.
    rows = (manifest.read_text().splitlines())
    for name in ("broken1.png", "broken2.png"):
        (root / "data" / name).write_bytes(b"not a png")
    bad = [rows[0], *rows[1:8], "broken1.png,b,1,x1,front", *rows[8:20], "broken2.png,b,2,x2,back"]
    (root / "data" / "bad.csv").write_text("\n".join(bad) + "\n")
    with pytest.raises(DataError, match=r"2 image\(s\) cannot be used; nothing was written:\n  line 9: broken1.png: .*\n  line 22: broken2.png"):
        P.predict_manifest(root / "run", root / "data" / "bad.csv", root / "bad_pred.csv")
    assert not (root / "bad_pred.csv").exists()
