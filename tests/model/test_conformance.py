"""Full conformance checks: every built-in and the reference plugin conform; broken plugins are found."""

from __future__ import annotations

import re
from pathlib import Path

import keras
import pytest

from autoorder.core.errors import PluginError
from autoorder.model import catalog, conformance
from autoorder.model.catalog import list_backbones, list_encodings
from autoorder.testing import CheckReport, check_backbone, check_encoding

ROOT = Path(__file__).resolve().parents[2]


REFERENCE = ROOT / "plugins" / "reference_backbone.py"


BACKBONES = [n for n in list_backbones() if n != "keras_file"]


ENCODINGS = list_encodings()


def _imports_autoorder(path: Path) -> bool:
    return bool(re.search(r"^\s*(import|from)\s+autoorder(\.|\s|$)", path.read_text(), re.MULTILINE))


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

