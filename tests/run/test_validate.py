"""`autoorder validate`: frozen cuts whose features do not vary are flagged before any search."""

from autoorder.core.config import from_dict
from autoorder.model.features import BackboneBank
from tests.fakes import Flat, registry
from tests.helpers import simple_dataset


def test_validate_flags_frozen_cuts_whose_features_do_not_vary(tmp_path):
    from autoorder.data.dataset import load_dataset
    from autoorder.run.validate import feature_warnings

    reg = registry()
    reg.register_backbone(Flat)
    manifest = simple_dataset(tmp_path / "data", classes=("a", "b"), objects_per_class=4)

    def warnings(backbones, freeze):
        cfg = from_dict({"data": {"manifest": str(manifest), "image_size": 16}, "space": {"backbones": backbones, "freeze": freeze}}, "c.yaml", tmp_path)
        return feature_warnings(cfg, reg, BackboneBank(reg, None, seed=0), load_dataset(cfg))

    (w,) = warnings(["flat", "mini"], ["p1", "none"])
    assert w.startswith("flat features at 'p1' hardly differ between images")
    assert warnings(["mini"], ["p1", "all"]) == []
    assert warnings(["flat"], ["none"]) == []  # trained end to end: nothing frozen to warn about

