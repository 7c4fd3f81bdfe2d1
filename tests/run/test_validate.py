"""`autoorder validate`: the warnings the search gives before its first trial, given without training."""

import pytest

from autoorder.core.config import from_dict
from autoorder.data.dataset import load_dataset
from autoorder.model.features import BackboneBank
from autoorder.run.preflight import PROBE_IMAGES, sample_probe, space_warnings
from tests.fakes import Flat, registry
from tests.helpers import simple_dataset


@pytest.fixture
def warnings_of(tmp_path):
    reg = registry()
    reg.register_backbone(Flat)
    manifest = simple_dataset(tmp_path / "data", classes=("a", "b"), objects_per_class=4)

    def warnings(backbones, freeze, weights="imagenet"):  # the fakes ignore the weights they are given
        cfg = from_dict({"data": {"manifest": str(manifest), "image_size": 16},
                         "space": {"backbones": backbones, "freeze": freeze, "weights": weights}}, "c.yaml", tmp_path)
        data = load_dataset(cfg)
        bank = BackboneBank(reg, cfg.weights_value(), seed=0)
        return space_warnings(cfg, reg, sample_probe(cfg, bank, data.images[data.indices("train")[:PROBE_IMAGES]]))

    return warnings


def test_frozen_cuts_whose_features_do_not_vary_are_flagged(warnings_of):
    (w,) = warnings_of(["flat", "mini"], ["p1", "none"])
    assert w.startswith("flat features at 'p1' hardly differ between images")
    assert warnings_of(["mini"], ["p1", "all"]) == []
    assert warnings_of(["flat"], ["none"]) == []  # trained end to end: nothing frozen to warn about


def test_random_frozen_backbones_get_one_warning(warnings_of):
    (w,) = warnings_of(["flat", "mini"], ["all", "p1"], weights=None)  # one line, not one per cut
    assert "space.weights is null" in w and "never trains flat, mini" in w and "freeze: none" in w
    assert warnings_of(["mini"], ["all", "none"], weights=None) == []
