"""Plugins: duck-typed backbones and encodings from folders, entry points and .keras files."""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from autoorder.model import catalog, conformance
from autoorder.registry import discovery as P
from autoorder.cli import main
from autoorder.core.config import from_dict
from autoorder.core.errors import ConfigError, PluginError
from autoorder.model.catalog import list_backbones, list_encodings
from autoorder.testing import CheckReport, check_backbone, check_encoding

from helpers import simple_dataset

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "plugins" / "reference_backbone.py"
EXAMPLE_SRC = ROOT / "plugins" / "example_package" / "src"

BACKBONES = [n for n in list_backbones() if n != "keras_file"]
ENCODINGS = list_encodings()


def _cli(*args):
    r = CliRunner().invoke(main, [str(a) for a in args])
    return r.exit_code, r.output


def _imports_autoorder(path: Path) -> bool:
    return bool(re.search(r"^\s*(import|from)\s+autoorder(\.|\s|$)", path.read_text(), re.MULTILINE))


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


def _cfg(root: Path, **sections) -> object:
    raw = {"data": {"manifest": "data/manifest.csv"}, **sections}
    return from_dict(raw, source=str(root / "search.yaml"), base_dir=root)


# ----- conformance of everything built in --------------------------------------------------
@pytest.mark.parametrize("name", BACKBONES)
def test_builtin_backbone_conforms(name):
    report = check_backbone(catalog.load_registry(use_entry_points=False).get_backbone(name), image_size=32)
    assert report.passed, report.message()


@pytest.mark.parametrize("name", ENCODINGS)
def test_builtin_encoding_conforms(name):
    report = check_encoding(catalog.load_registry(use_entry_points=False).get_encoding(name))
    assert report.passed, report.message()


def test_reference_plugin_conforms_and_never_imports_autoorder():
    assert not _imports_autoorder(REFERENCE)
    [(kind, obj)] = conformance.load_file_plugins(REFERENCE)
    report = check_backbone(obj)
    assert kind == "backbone" and report.passed
    assert [name for name, passed, _ in report][:2] == ["instantiate", "name"]
    assert obj().freeze_points() == ["block1_pool", "block2_pool"]


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


def test_disable_skips_builtins_and_plugins_even_broken_ones(tmp_path):
    folder = _good_folder(tmp_path)
    _write(folder / "broken.py", """
        class Broken:
            name = "broken"
            default_image_size = 32
            def build(self, size):
                pass
    """)
    with pytest.raises(PluginError, match="broken"):
        catalog.load_registry([folder], use_entry_points=False)
    reg = catalog.load_registry([folder], disable=["broken", "my_cnn", "film"], use_entry_points=False)
    assert "my_cnn" not in reg.backbones and "film" not in reg.encodings and "doubled" in reg.encodings


def test_nothing_is_imported_from_a_folder_the_config_does_not_name(tmp_path):
    marker = tmp_path / "imported.txt"
    _write(tmp_path / "elsewhere" / "spy.py", f"""
        from pathlib import Path
        Path({str(marker)!r}).write_text("imported")
    """)
    _good_folder(tmp_path)
    reg = catalog.registry_for(_cfg(tmp_path, plugins={"entry_points": False}))  # default paths: [plugins]
    assert "my_cnn" in reg.backbones
    assert not marker.exists()
    catalog.registry_for(_cfg(tmp_path, plugins={"paths": ["elsewhere"], "entry_points": False}))
    assert marker.exists()  # the control: naming the folder does import it


def test_module_scan_takes_only_what_the_file_defines(tmp_path):
    _write(tmp_path / "plugins" / "scan.py", """
        import keras
        from autoorder.model.encodings import FiLMEncoding          # imported: not this file's plugin
        from autoorder.model.backbones.keras_file import KerasFileBackbone

        class Helper(keras.layers.Layer):                     # a keras layer with build and name
            name = "helper"
            def call(self, x):
                return x

        class Gate2:
            name = "gate2"
            uses_order = True
            def build(self, features, order_index, num_buckets, hp):
                return features

        GATE2 = Gate2()                                        # class and instance: counted once
        _Hidden = type("Hidden", (), {"name": "hidden", "uses_order": True, "build": lambda *a: a[1]})
    """)
    reg = catalog.load_registry([tmp_path / "plugins"], use_entry_points=False)
    assert reg.encodings["gate2"].obj is not None and "helper" not in reg.backbones
    assert "hidden" not in reg.encodings
    assert reg.encodings["film"].source == "builtin" and reg.backbones["keras_file"].source == "builtin"


def test_import_error_names_file_and_line(tmp_path):
    _write(tmp_path / "plugins" / "bad.py", """
        import keras

        raise RuntimeError("boom")
    """)
    with pytest.raises(PluginError, match=r"bad\.py, line 3 fails to import: RuntimeError: boom"):
        catalog.load_registry([tmp_path / "plugins"], use_entry_points=False)
    _write(tmp_path / "plugins" / "bad.py", "x = 1\ndef f(:\n    pass\n")
    with pytest.raises(PluginError, match=r"bad\.py, line 2 fails to import: SyntaxError"):
        catalog.load_registry([tmp_path / "plugins"], use_entry_points=False)


@pytest.mark.parametrize(
    "body, problem",
    [
        (
            # missing method: a backbone without freeze_points
            """
            class MissingFreeze:
                name = "wrong"
                default_image_size = 32
                def build(self, image_size, weights):
                    return None
            """,
            r"freeze_points\(\): method 'freeze_points' is missing",
        ),
        (
            # wrong signature
            """
            class WrongSignature:
                name = "wrong"
                default_image_size = 32
                def build(self, size):
                    return None
                def freeze_points(self):
                    return []
            """,
            r"build must take the parameters \(image_size, weights\). Got build\(size\) instead",
        ),
        (
            # wrong attribute types, and a class that needs arguments
            """
            class WrongTypes:
                name = "wrong"
                default_image_size = "32"
                uses_order = "yes"
                def build(self, image_size, weights):
                    return None
                def freeze_points(self):
                    return []
            """,
            r"default_image_size: attribute 'default_image_size' must be a positive int. Got '32' instead",
        ),
        (
            """
            class NeedsArgs:
                name = "wrong"
                uses_order = True
                def __init__(self, size):
                    pass
                def build(self, features, order_index, num_buckets, hp):
                    return features
            """,
            r"NeedsArgs\(\) must work without arguments",
        ),
        (
            # neither kind
            """
            class Unclear:
                name = "wrong"
                def build(self, image_size, weights):
                    return None
            """,
            r"neither a backbone .* nor an order encoding",
        ),
    ],
)
def test_broken_plugin_message_names_plugin_source_and_problem(tmp_path, body, problem):
    path = _write(tmp_path / "plugins" / "wrong.py", body)
    with pytest.raises(PluginError) as info:
        catalog.load_registry([tmp_path / "plugins"], use_entry_points=False)
    msg = str(info.value)
    assert "'wrong'" in msg and str(path) in msg, msg
    assert re.search(problem, msg), msg


def test_wrong_return_types_are_found_by_the_full_check():
    class ReturnsText:
        name = "texty"
        default_image_size = 32

        def build(self, image_size, weights):
            return "a model"

        def freeze_points(self):
            return "block1"

    with pytest.raises(PluginError) as info:
        check_backbone(ReturnsText, source="my_file.py")
    msg = str(info.value)
    assert "'texty' (class ReturnsText) from my_file.py" in msg
    assert "build must return a keras.Model. Got str instead" in msg
    assert "freeze_points() returns a list of str: got 'block1'" in msg

    class RankThree:
        name = "rank3"
        uses_order = True

        def build(self, features, order_index, num_buckets, hp):
            return keras.layers.Reshape((2, 4))(features)

    report = check_encoding(RankThree, raise_on_failure=False)
    assert isinstance(report, CheckReport) and not report.passed
    assert "rank-2 Keras tensor (batch, C). Got a tensor of shape (None, 2, 4)" in report.message()


def test_freeze_points_must_be_clean_cuts_in_order():
    class Skippy:
        name = "skippy"
        default_image_size = 16

        def build(self, image_size, weights):
            inp = keras.Input((image_size, image_size, 3))
            a = keras.layers.Conv2D(4, 3, padding="same", name="a")(inp)
            b = keras.layers.Conv2D(4, 3, padding="same", name="b")(a)
            c = keras.layers.Add(name="c")([a, b])
            d = keras.layers.Conv2D(4, 3, padding="same", name="d")(c)
            return keras.Model(inp, d)

        def freeze_points(self):
            return ["c", "b", "nope"]

    report = check_backbone(Skippy, image_size=16, raise_on_failure=False)
    fails = {c.name: c.detail for c in report.failures}
    assert "['nope'] is not the name of a layer" in fails["freeze points are layers of the model"]
    assert "['b'] is crossed by a skip connection" in fails["freeze points are clean cuts"]


def test_duplicate_names_name_both_sources(tmp_path):
    _good_folder(tmp_path)
    _write(tmp_path / "more" / "again.py", MY_PLUGINS.replace('"doubled"', '"doubled2"'))
    with pytest.raises(PluginError) as info:
        catalog.load_registry([tmp_path / "plugins", tmp_path / "more"], use_entry_points=False)
    msg = str(info.value)
    assert "'my_cnn'" in msg and str(tmp_path / "plugins" / "my_plugins.py") in msg and str(tmp_path / "more" / "again.py") in msg
    _write(tmp_path / "clash" / "clash.py", MY_PLUGINS.replace('"my_cnn"', '"tiny_cnn"'))
    with pytest.raises(PluginError, match=r"'tiny_cnn': one from builtin, one from .*clash\.py"):
        catalog.load_registry([tmp_path / "clash"], use_entry_points=False)


# ----- entry points (faked: nothing is installed) ------------------------------------------
class _Dist:
    name, version = "autoorder-example", "0.1.0"


def _fake_entry_points(monkeypatch, table):
    def fake(group):
        eps = []
        for name, value in table.get(group, []):
            ep = importlib.metadata.EntryPoint(name, value, group)
            eps.append(_EP(ep))
        return eps

    monkeypatch.setattr(P, "entry_points", fake)


class _EP:
    """An EntryPoint with a distribution attached (EntryPoint's own is frozen)."""

    dist = _Dist()

    def __init__(self, ep):
        self.name, self.value, self.group, self._ep = ep.name, ep.value, ep.group, ep

    def load(self):
        return self._ep.load()


EXAMPLE_EPS = {
    P.BACKBONE_GROUP: [("example_cnn", "autoorder_example.backbones:ExampleCNN")],
    P.ENCODING_GROUP: [("order_bias", "autoorder_example.encodings:OrderBias")],
}


def test_entry_point_plugins_are_loaded_checked_and_named(monkeypatch, forget_example_package):
    monkeypatch.syspath_prepend(str(EXAMPLE_SRC))
    _fake_entry_points(monkeypatch, EXAMPLE_EPS)
    reg = catalog.load_registry()
    src = reg.backbones["example_cnn"].source
    assert src == "entry point 'example_cnn' of autoorder-example 0.1.0 (autoorder_example.backbones:ExampleCNN)"
    assert "order_bias" in reg.encodings
    assert check_backbone(reg.get_backbone("example_cnn")).passed
    assert check_encoding(reg.get_encoding("order_bias")).passed
    assert not any(_imports_autoorder(p) for p in (EXAMPLE_SRC / "autoorder_example").glob("*.py"))
    assert "example_cnn" not in catalog.load_registry(use_entry_points=False).backbones


def test_broken_entry_points_are_named_or_skipped_when_disabled(monkeypatch, tmp_path):
    _write(tmp_path / "pkg_broken" / "__init__.py", "import keras\n\nraise ImportError('no such thing')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    _fake_entry_points(monkeypatch, {P.BACKBONE_GROUP: [("brk", "pkg_broken:Thing")]})
    with pytest.raises(PluginError) as info:
        catalog.load_registry()
    msg = str(info.value)
    assert "entry point 'brk'" in msg and "autoorder-example" in msg and "no such thing" in msg
    assert "pkg_broken" in msg and "line 3" in msg
    catalog.load_registry(disable=["brk"])  # disabled: never imported
    _fake_entry_points(monkeypatch, {P.ENCODING_GROUP: [("half", "autoorder.model.encodings:_embed")]})
    with pytest.raises(PluginError, match=r"order encoding plugin from entry point 'half'.* must be a class"):
        catalog.load_registry()


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


# ----- keras_file --------------------------------------------------------------------------
def _plain_model(size=24, flatten=False):
    inp = keras.Input((size, size, 3), name="img")
    x = keras.layers.Rescaling(1 / 255, name="scale")(inp)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1")(x)
    x = keras.layers.MaxPooling2D(name="p1")(x)
    y = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c2")(x)
    x = keras.layers.Add(name="skip")([x, y])
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="c3")(x)
    x = (keras.layers.Flatten if flatten else keras.layers.GlobalAveragePooling2D)(name="feat")(x)
    out = keras.layers.Dense(3, activation="softmax", name="classifier")(x)
    return keras.Model(inp, out)


def _keras_file(tmp_path, **options):
    from autoorder.model.catalog import builtins

    return builtins().get_backbone("keras_file").configure(base_dir=tmp_path, **options)


def test_keras_file_plain_model(tmp_path):
    src = _plain_model()
    src.save(tmp_path / "mine.keras")
    bb = _keras_file(tmp_path, path="mine.keras")
    assert bb.default_image_size == 24
    model = bb.build(24, None)
    assert model.output.shape == (None, 6)  # the input of the final Dense
    x = np.random.default_rng(0).uniform(0, 255, (2, 24, 24, 3)).astype("float32")
    want = keras.Model(src.input, src.get_layer("feat").output).predict(x, verbose=0)
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)
    assert bb.build(24, None) is not model and bb.build(24, None).layers[2] is not model.layers[2]  # fresh
    from autoorder.model.graph import clean_cuts

    points = bb.freeze_points()
    assert points and set(points) <= set(clean_cuts(model)) and "c2" not in points
    assert bb.build(40, None).output.shape == (None, 6)  # fully convolutional: any size
    assert check_backbone(bb, image_size=16).passed
    declared = _keras_file(tmp_path, path="mine.keras", output_layer="c3", freeze_points=["skip", "p1"])
    assert declared.freeze_points() == ["p1", "skip"] and declared.build(24, None).output.shape == (None, 12, 12, 6)
    with pytest.raises(ConfigError, match=r"freeze_points' option names \['c2'\], which a skip connection"):
        _keras_file(tmp_path, path="mine.keras", freeze_points=["c2"])
    with pytest.raises(ConfigError, match=r"output_layer' option names 'c33'.*Did you mean 'c3'"):
        _keras_file(tmp_path, path="mine.keras", output_layer="c33")


def test_keras_file_size_change_needs_a_fully_convolutional_model(tmp_path):
    _plain_model(flatten=True).save(tmp_path / "dense.keras")
    bb = _keras_file(tmp_path, path="dense.keras", output_layer="classifier")
    assert bb.build(24, None).output.shape == (None, 3)
    with pytest.raises(PluginError, match=r"saved for 24x24 images and cannot be rebuilt at 32x32"):
        bb.build(32, None)


def test_keras_file_autoorder_model_uses_the_image_path(tmp_path):
    import keras_tuner as kt

    from autoorder.model.encodings import FiLMEncoding
    from autoorder.model.assembly import HeadSpec, build_export_model, build_head

    inp = keras.Input((20, 20, 3))
    x = keras.layers.Rescaling(1 / 255, name="bb_scale")(inp)
    x = keras.layers.Conv2D(5, 3, padding="same", name="bb_conv1")(x)
    x = keras.layers.MaxPooling2D(name="bb_pool")(x)
    x = keras.layers.Conv2D(7, 3, padding="same", name="bb_conv2")(x)
    backbone = keras.Model(inp, x, name="backbone")
    head = build_head((7,), HeadSpec(2, (1, 2, 3), 1, 8, 0.0), FiLMEncoding(), kt.HyperParameters())
    exported = build_export_model(backbone, head, 20)
    exported.save(tmp_path / "best_model.keras")

    bb = _keras_file(tmp_path, path="best_model.keras")
    model = bb.build(20, None)
    assert bb.default_image_size == 20 and len(model.inputs) == 1
    assert model.output.shape == (None, 10, 10, 7)
    assert not any(isinstance(layer, keras.Model) for layer in model.layers)  # flat
    assert "bb_pool" in bb.freeze_points()
    x = np.random.default_rng(1).uniform(0, 255, (2, 20, 20, 3)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), backbone.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    assert check_backbone(bb, image_size=20).passed


def test_keras_file_refusals(tmp_path):
    from autoorder.model.catalog import builtins

    with pytest.raises(PluginError, match=r"space.backbone_options.keras_file.path"):
        builtins().get_backbone("keras_file").build(32, None)
    inp = keras.Input((8, 8, 3))
    keras.Model(inp, keras.layers.Lambda(lambda t: t * 2)(inp)).save(tmp_path / "lam.keras")
    with pytest.raises(PluginError, match=r"lam.keras' is refused: it holds a Lambda layer"):
        _keras_file(tmp_path, path="lam.keras")
    with pytest.raises(ConfigError, match=r"does not exist"):
        _keras_file(tmp_path, path="missing.keras")
    (tmp_path / "old.h5").write_text("x")
    with pytest.raises(ConfigError, match=r"must name a .keras file"):
        _keras_file(tmp_path, path="old.h5")


def test_keras_file_through_backbone_options(tmp_path):
    _plain_model().save(tmp_path / "mine.keras")
    cfg = _cfg(tmp_path, space={"backbones": ["keras_file"], "backbone_options": {"keras_file": {"path": "mine.keras"}}},
               plugins={"paths": [], "entry_points": False})
    bb = catalog.registry_for(cfg).get_backbone("keras_file")
    assert bb.default_image_size == 24 and bb.build(24, None).output.shape == (None, 6)
    bad = _cfg(tmp_path, space={"backbone_options": {"keras_file": {"path": "mine.keras", "layer": "x"}}},
               plugins={"paths": [], "entry_points": False})
    with pytest.raises(ConfigError, match=r"backbone_options.keras_file' key .* is not accepted"):
        catalog.registry_for(bad)


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
