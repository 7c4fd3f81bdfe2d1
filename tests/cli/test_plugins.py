"""`autoorder plugins list` and `autoorder plugins check`."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

from click.testing import CliRunner

from autoorder.cli import main
from autoorder.model import catalog
from autoorder.testing import check_backbone, check_encoding

ROOT = Path(__file__).resolve().parents[2]


REFERENCE = ROOT / "plugins" / "reference_backbone.py"


def _cli(*args):
    r = CliRunner().invoke(main, [str(a) for a in args])
    return r.exit_code, r.output


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


MY_PLUGINS = """
    import keras


    class MyCNN:
        name = "my_cnn"
        default_image_size = 24

        def build(self, image_size, weights=None):
            x = inputs = keras.Input((image_size, image_size, 3))
            x = keras.layers.Rescaling(1 / 255, name="scale")(x)
            x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(x)
            x = keras.layers.MaxPooling2D(name="cut1")(x)
            x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(x)
            return keras.Model(inputs, x)

        def freeze_points(self):
            return ["cut1"]


    class Doubled:
        name = "doubled"
        uses_order = True

        def build(self, features, order_index, num_buckets, hp):
            emb = keras.layers.Embedding(num_buckets, 2)(order_index)
            return keras.layers.Concatenate()([features, emb])
"""


def _good_folder(root: Path) -> Path:
    _write(root / "plugins" / "my_plugins.py", MY_PLUGINS)
    return root / "plugins"


# ----- discovery ---------------------------------------------------------------------------
def test_folder_plugins_are_listed_with_their_file(tmp_path):
    folder = _good_folder(tmp_path)
    reg = catalog.load_registry([folder], use_entry_points=False)
    src = str(folder / "my_plugins.py")
    assert reg.backbones["my_cnn"].source == src and reg.encodings["doubled"].source == src
    assert reg.backbones["tiny_cnn"].source == "builtin"
    # Instantiated before registration (a class only passes a Protocol check for its instances).
    assert not isinstance(reg.get_backbone("my_cnn"), type)
    assert check_backbone(reg.get_backbone("my_cnn")).passed
    assert check_encoding(reg.get_encoding("doubled")).passed


# ----- CLI ---------------------------------------------------------------------------------
def test_plugins_list_json_and_table(tmp_path, monkeypatch):
    shutil.copy(REFERENCE, _good_folder(tmp_path) / "reference_backbone.py")
    cfg = tmp_path / "search.yaml"
    cfg.write_text("data: {manifest: data/manifest.csv}\nspace: {backbones: [reference_cnn]}\nplugins: {entry_points: false}\n")
    code, out = _cli("plugins", "list", "--json", "--config", cfg)
    assert code == 0, out
    rows = {(r["kind"], r["name"]): r for r in json.loads(out)}
    ref = rows[("backbone", "reference_cnn")]
    assert ref["source"] == str(tmp_path / "plugins" / "reference_backbone.py")
    assert ref["default_image_size"] == 32 and ref["freeze_points"] == ["block1_pool", "block2_pool"]
    assert ref["params"] == 8 * 3 * 9 + 8 + 16 * 8 * 9 + 16 + 32 * 16 * 9 + 32
    assert set(ref) >= {"kind", "name", "source", "default_image_size", "freeze_points", "params"}
    assert rows[("encoding", "doubled")]["source"].endswith("my_plugins.py")
    assert rows[("encoding", "film")]["source"] == "builtin"
    assert "space.backbone_options.keras_file.path" in rows[("backbone", "keras_file")]["error"]
    monkeypatch.chdir(tmp_path)  # without --config: plugins/ of the current folder
    code, out = _cli("plugins", "list")
    assert code == 0, out
    assert "reference_cnn" in out and "block1_pool, block2_pool" in out and "my_plugins.py" in out


def test_plugins_list_builds_no_application_backbone(tmp_path, monkeypatch):
    # Building ResNet50 & co. to count their parameters made `plugins list` take 25 s; they
    # declare their counts (checked against a real build in test_applications.py).
    from autoorder.model.backbones import applications

    def no_build(self, image_size, weights=None):
        raise AssertionError(f"plugins list built {self.name}")

    monkeypatch.setattr(applications.ApplicationBackbone, "build", no_build)
    monkeypatch.chdir(tmp_path)
    code, out = _cli("plugins", "list", "--json")
    assert code == 0, out
    rows = {r["name"]: r for r in json.loads(out) if r["kind"] == "backbone"}
    for name, params in applications.PARAMS.items():
        assert rows[name]["params"] == params and rows[name]["error"] is None, rows[name]
    assert rows["tiny_cnn"]["params"] > 0  # small backbones without a declared count are still counted


def test_plugins_check_a_file_and_a_name(tmp_path, monkeypatch):
    code, out = _cli("plugins", "check", REFERENCE)
    assert code == 0, out
    assert "PASS freeze points are clean cuts" in out and "=> OK" in out and "FAIL" not in out
    bad = _write(tmp_path / "bad_plugin.py", """
        import keras

        class Bad:
            name = "bad"
            default_image_size = 32
            def build(self, image_size, weights):
                x = keras.Input((image_size, image_size, 3))
                return keras.Model(x, keras.layers.Conv2D(2, 3, name="c")(x))
            def freeze_points(self):
                return ["nope"]
    """)
    code, out = _cli("plugins", "check", bad)
    assert code == 1
    assert "FAIL freeze points are layers of the model: ['nope'] is not the name of a layer" in out
    assert "PASS build(32, None) returns a keras.Model" in out
    monkeypatch.chdir(tmp_path)
    _good_folder(tmp_path)
    code, out = _cli("plugins", "check", "my_cnn")
    assert code == 0 and "my_plugins.py" in out, out
    code, out = _cli("plugins", "check", "my_cn")
    assert code == 1 and "Did you mean 'my_cnn'?" in out and "Traceback" not in out

