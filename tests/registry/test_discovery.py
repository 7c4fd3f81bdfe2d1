"""Plugin discovery: folders, entry points (faked), disable lists, duplicates, and clear errors."""

from __future__ import annotations

import importlib.metadata
import re
import sys
import textwrap
from pathlib import Path

import pytest

from autoorder.core.config import from_dict
from autoorder.core.errors import PluginError
from autoorder.model import catalog
from autoorder.registry import discovery as P
from autoorder.testing import check_backbone, check_encoding

ROOT = Path(__file__).resolve().parents[2]


EXAMPLE_SRC = ROOT / "plugins" / "example_package" / "src"


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


@pytest.fixture
def forget_example_package():
    yield
    for mod in [m for m in sys.modules if m.split(".")[0] == "autoorder_example"]:
        del sys.modules[mod]


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

