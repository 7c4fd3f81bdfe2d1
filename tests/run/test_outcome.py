"""What a search found: warnings a user must see before trusting the best model."""

from __future__ import annotations

from pathlib import Path


def test_search_warns_when_the_best_model_does_not_beat_the_majority_class():
    from autoorder.core.config import from_dict
    from autoorder.run.outcome import search_warnings
    from autoorder.schema.results import BestModel, MajorityBaseline

    def results(best_val):
        return BestModel(trial="0", val_accuracy=best_val), MajorityBaseline(label="a", val_accuracy=0.25, test_accuracy=0.3)

    random_frozen = from_dict({"data": {"manifest": "m.csv"}, "space": {"weights": None, "freeze": "all"}}, "c.yaml", Path("."))
    (w,) = search_warnings(random_frozen, *results(0.25))
    assert "does not beat" in w and "'a' (0.2500 on validation)" in w and "random weights" in w
    trained = from_dict({"data": {"manifest": "m.csv"}, "space": {"weights": None, "freeze": "none"}}, "c.yaml", Path("."))
    (w,) = search_warnings(trained, *results(0.2))
    assert "random weights" not in w
    assert search_warnings(random_frozen, *results(0.26)) == []


def test_search_warns_when_the_best_model_does_not_beat_the_majority_class_on_test():
    from autoorder.core.config import from_dict
    from autoorder.run.outcome import search_warnings
    from autoorder.schema.results import BestModel, MajorityBaseline

    cfg = from_dict({"data": {"manifest": "m.csv"}, "space": {"weights": None, "freeze": "none"}}, "c.yaml", Path("."))
    baseline = MajorityBaseline(label="b", val_accuracy=0.2, test_accuracy=0.2667)
    (w,) = search_warnings(cfg, BestModel(trial="0", val_accuracy=0.4, test_accuracy=0.2, test_images=45), baseline)
    assert "held-out test split" in w and "(0.2000 on 45 test images)" in w and "'b' (0.2667)" in w
    assert search_warnings(cfg, BestModel(trial="0", val_accuracy=0.4, test_accuracy=0.3, test_images=45), baseline) == []

