"""Plugins end to end: an installed entry-point package, and a search that trains a folder plugin."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import pytest

from autoorder.model import catalog
from tests.helpers import simple_dataset

ROOT = Path(__file__).resolve().parents[2]


REFERENCE = ROOT / "plugins" / "reference_backbone.py"


EXAMPLE_SRC = ROOT / "plugins" / "example_package" / "src"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


@pytest.fixture
def forget_example_package():
    yield
    for mod in [m for m in sys.modules if m.split(".")[0] == "autoorder_example"]:
        del sys.modules[mod]


@pytest.mark.slow
def test_an_installed_package_is_found_through_its_entry_points(tmp_path, monkeypatch, forget_example_package):
    # A real install, into a folder of tmp_path only (nothing global), then real discovery.
    pkg = tmp_path / "example_package"
    shutil.copytree(EXAMPLE_SRC.parent, pkg, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    site = tmp_path / "site"
    r = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--no-build-isolation",
         "--target", str(site), str(pkg)],
        capture_output=True, text=True,
    )
    if r.returncode != 0:
        pytest.skip(f"pip cannot build the example package offline here: {r.stderr[-300:]}")
    monkeypatch.syspath_prepend(str(site))
    reg = catalog.load_registry()
    assert reg.backbones["example_cnn"].source.startswith("entry point 'example_cnn' of autoorder-example 0.1.0")
    assert reg.encodings["order_bias"].source.startswith("entry point 'order_bias' of autoorder-example 0.1.0")
    assert "order_bias" not in catalog.load_registry(disable=["order_bias"]).encodings


# ----- end to end --------------------------------------------------------------------------
@pytest.mark.slow
def test_search_picks_and_trains_a_folder_plugin(tmp_path):
    from autoorder.core.config import load_config
    from autoorder.run.search import run_search

    simple_dataset(tmp_path / "data", size=16)
    (tmp_path / "plugins").mkdir()
    shutil.copy(REFERENCE, tmp_path / "plugins" / "reference_backbone.py")
    cfg_path = _write(tmp_path / "search.yaml", """
        data:
          manifest: data/manifest.csv
          image_size: 16
          split: {val: 0.25, test: 0.25, seed: 0}
        space:
          backbones: [reference_cnn]
          weights: null
          freeze: block2_pool                  # the plugin's own cut point: trains only above it
          head_depth: 0
          dropout: 0.0
          order_encodings: [none, onehot]
          batch_size: 8
        tuner: {max_trials: 2, epochs: 1, seed: 0, patience: 0}
        plugins: {paths: [plugins], entry_points: false}
    """)
    results = run_search(load_config(cfg_path), tmp_path / "run")
    done = [t for t in results.trials if t.status == "COMPLETED"]
    assert len(done) == 2 and all(t.hyperparameters["backbone"] == "reference_cnn" for t in done)
    assert all(t.hyperparameters["reference_cnn/freeze"] == "block2_pool" for t in done)
    assert results.best.hyperparameters["backbone"] == "reference_cnn"
    model = keras.saving.load_model(tmp_path / "run" / "best_model.keras", safe_mode=True)
    names = {layer.name for m in [model, *[l for l in model.layers if isinstance(l, keras.Model)]] for layer in m.layers}
    assert "block1_conv" in names

