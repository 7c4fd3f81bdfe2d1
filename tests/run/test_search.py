"""run_search: one backbone pass per search; head-only trials write no backbone."""

from autoorder.core.config import from_dict
from tests.fakes import SEEN, registry
from tests.helpers import simple_dataset


def test_one_backbone_pass_per_search_whatever_the_trials_epochs_and_cuts(tmp_path):
    from autoorder.run.search import run_search

    manifest = simple_dataset(tmp_path / "data", classes=("a", "b", "c"), objects_per_class=5)
    cfg = from_dict(
        {
            "data": {"manifest": str(manifest), "image_size": 16},
            "space": {"backbones": "mini", "freeze": ["all", "p1", "p2"], "order_encodings": ["none", "onehot"]},
            "tuner": {"max_trials": 5, "epochs": 3, "patience": 0},
        },
        "c.yaml",
        tmp_path,
    )
    SEEN.assign(0)
    res = run_search(cfg, tmp_path / "run", registry=registry())
    done = [t for t in res.trials if t.status == "COMPLETED"]
    assert len(done) == 5
    assert res.cache.backbone_passes == 1
    n = res.dataset.images
    n_test = res.dataset.images_per_split["test"]
    # One pass over every image for the cache, plus the exported model's test evaluation.
    assert int(SEEN.numpy()) == n + n_test


def test_head_only_trial_writes_no_backbone_to_disk(tmp_path):
    from autoorder.run.search import run_search

    manifest = simple_dataset(tmp_path / "data", classes=("a", "b"), objects_per_class=4)
    cfg = from_dict(
        {
            "data": {"manifest": str(manifest), "image_size": 16},
            "space": {"backbones": "mini", "freeze": "all", "order_encodings": "none", "head_depth": 0},
            "tuner": {"max_trials": 1, "epochs": 1},
        },
        "c.yaml",
        tmp_path,
    )
    run_search(cfg, tmp_path / "run", registry=registry())
    ckpt = next((tmp_path / "run" / "tuner").glob("trial_*/checkpoint.weights.h5"))
    import h5py

    names = []
    with h5py.File(ckpt) as f:
        f.visit(names.append)
    assert not any("c1" in n or "conv2d" in n for n in names), names

