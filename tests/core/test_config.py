import os

import pytest

from autoorder.core.config import (
    Config,
    apply_overrides,
    from_dict,
    load_config,
    resolved_dict,
)
from autoorder.core.errors import ConfigError

BASE = {"data": {"manifest": "m.csv"}}


def cfg(**sections):
    raw = {**BASE, **sections}
    return from_dict(raw, "c.yaml")


def test_defaults_filled_and_frozen():
    c = cfg()
    assert isinstance(c, Config)
    assert c.data.image_size == 96 and c.tuner.algorithm == "random"
    assert c.space.backbones == ("mobilenet_v2", "efficientnet_b0", "mobilenet_v3_small")
    assert c.data.columns == {"image": "image", "label": "label", "order": "order", "group": "object_id"}
    with pytest.raises(Exception):
        c.tuner.max_trials = 3  # frozen


def test_single_value_becomes_fixed_tuple():
    c = cfg(space={"backbones": "tiny_cnn", "learning_rate": 0.01, "head_depth": [0, 2]})
    assert c.space.backbones == ("tiny_cnn",)
    assert c.space.learning_rate == (0.01,)
    assert c.space.head_depth == (0, 2)


@pytest.mark.parametrize(
    "raw, match",
    [
        ({"data": {"manifest": "m.csv", "imagesize": 32}}, r"Unknown key 'data.imagesize'.*Did you mean 'image_size'"),
        ({**BASE, "tunr": {}}, r"Unknown key 'tunr'.*Did you mean 'tuner'"),
        ({**BASE, "tuner": {"max_trials": 0}}, r"'tuner.max_trials'.*int >= 1. Got 0"),
        ({**BASE, "tuner": {"max_trials": "10"}}, r"'tuner.max_trials'.*Got '10'"),
        ({**BASE, "tuner": {"algorithm": "randon"}}, r"'tuner.algorithm'.*Got 'randon'.*Did you mean 'random'"),
        ({**BASE, "space": {"head_depth": [0, 5]}}, r"'space.head_depth'.*\[0, 3\].*Got \[0, 5\]"),
        ({**BASE, "space": {"learning_rate": [0.0]}}, r"'space.learning_rate'"),
        ({**BASE, "space": {"backbones": []}}, r"'space.backbones'.*non-empty list"),
        ({**BASE, "space": {"order_encodings": ["none", "none"]}}, r"without duplicates"),
        ({**BASE, "space": {"weights": 3}}, r"'space.weights'.*imagenet"),
        ({**BASE, "data": {"manifest": "m.csv", "split": {"val": 0.6}}}, r"'data.split.val'"),
        ({**BASE, "data": {"manifest": "m.csv", "split": {"val": 0.45, "test": 0.45}}}, r"add up"),
        ({**BASE, "data": {"manifest": "m.csv", "columns": {"img": "x"}}}, r"'data.columns'.*Did you mean 'image'"),
        ({**BASE, "data": {"manifest": "m.csv", "columns": {"image": "a", "label": "a"}}}, r"distinct column names"),
        ({"data": {}}, r"'data.manifest'.*required"),
        ({}, r"'data' key.*required"),
        ([1, 2], r"mapping at the top level"),
        ({**BASE, "tuner": [1]}, r"'tuner'.*must be a mapping"),
        ({**BASE, "data": {"manifest": "m.csv", "on_bad_image": "ignore"}}, r"'data.on_bad_image'.*\['error', 'skip'\]"),
        ({**BASE, "cache": {"enabled": "yes"}}, r"'cache.enabled'.*true or false"),
    ],
)
def test_bad_values_name_key_value_and_expectation(raw, match):
    with pytest.raises(ConfigError, match=match):
        from_dict(raw, "c.yaml")


def test_order_encodings_need_an_order_column():
    with pytest.raises(ConfigError, match=r"order_encodings.*data.columns.order is null"):
        cfg(data={"manifest": "m.csv", "columns": {"order": None}})
    c = cfg(data={"manifest": "m.csv", "columns": {"order": None}}, space={"order_encodings": "none"})
    assert not c.uses_order


def test_set_overrides_go_through_validation(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("data:\n  manifest: m.csv\n")
    c = load_config(p, ["tuner.max_trials=20", "space.backbones=[tiny_cnn]", "data.split.seed=3"])
    assert c.tuner.max_trials == 20 and c.data.split.seed == 3
    with pytest.raises(ConfigError, match=r"'tuner.max_trials'.*Got -1"):
        load_config(p, ["tuner.max_trials=-1"])
    with pytest.raises(ConfigError, match=r"Unknown key 'tuner.max_trail'.*max_trials"):
        load_config(p, ["tuner.max_trail=3"])
    with pytest.raises(ConfigError, match=r"KEY=VALUE"):
        load_config(p, ["tuner.max_trials"])


def test_yaml_python_tags_are_refused(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("data: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match=r"not valid YAML.*safe_load"):
        load_config(p)


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match=r"does not exist"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=r"is a folder"):
        load_config(tmp_path)
    p = tmp_path / "bad.yaml"
    p.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match=r"line \d+"):
        load_config(p)


def test_resolved_paths_are_absolute(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("data:\n  manifest: data/m.csv\nspace:\n  weights: w.weights.h5\n")
    d = resolved_dict(load_config(p))
    assert d["data"]["manifest"] == str(tmp_path / "data" / "m.csv")
    assert d["space"]["weights"] == str(tmp_path / "w.weights.h5")
    assert d["plugins"]["paths"] == [str(tmp_path / "plugins")]
    # The resolved dict validates again to the same config.
    again = from_dict(d, "r.yaml")
    assert again.weights_value() == load_config(p).weights_value()
    assert again.tuner == load_config(p).tuner and again.space.backbones == load_config(p).space.backbones


def test_apply_overrides_does_not_touch_input():
    raw = {"data": {"manifest": "m.csv"}}
    new = apply_overrides(raw, ["tuner.epochs=3"])
    assert "tuner" not in raw and new["tuner"]["epochs"] == 3


# ----- config and options ------------------------------------------------------------------
def _tuner_cfg(**tuner):
    return from_dict({"data": {"manifest": "m.csv"}, "tuner": tuner})


def test_new_tuner_keys_have_defaults():
    t = _tuner_cfg().tuner
    assert (t.distribution, t.lease_seconds, t.chief_timeout) == (None, 120.0, 300.0)
    t = _tuner_cfg(distribution="mirrored", lease_seconds=5, chief_timeout=2.5).tuner
    assert (t.distribution, t.lease_seconds, t.chief_timeout) == ("mirrored", 5.0, 2.5)


@pytest.mark.parametrize(
    "key, value, match",
    [
        ("distribution", "mirored", r"'tuner.distribution' key .* must be null or one of \['mirrored'\]\. Got 'mirored' instead\. Did you mean 'mirrored'"),
        ("distribution", "multi_worker", r"'tuner.distribution'.*Got 'multi_worker'"),
        ("lease_seconds", 0, r"'tuner.lease_seconds' key .* must be a number in \[1.0, inf\)\. Got 0 instead"),
        ("lease_seconds", "2m", r"'tuner.lease_seconds'.*Got '2m'"),
        ("chief_timeout", -1, r"'tuner.chief_timeout' key .* must be a number in \[1.0, inf\)\. Got -1 instead"),
        ("chief_timeout", True, r"'tuner.chief_timeout'.*Got True"),
    ],
)
def test_new_tuner_keys_are_validated(key, value, match):
    with pytest.raises(ConfigError, match=match):
        _tuner_cfg(**{key: value})



def test_default_space_is_pretrained_and_learns():
    """Defaults that learn: ImageNet backbones, frozen or fine-tuned above their last cut, a
    searched head; with random weights nothing frozen (frozen random features carry nothing)."""
    s = cfg().space
    assert s.weights == "imagenet" and s.freeze == ("all", "last")
    assert s.head_depth == (0, 1, 2) and s.order_encodings == ("none", "onehot", "embedding", "film")
    t = cfg().tuner
    assert (t.schedule, t.warmup_epochs, t.clip_norm, t.deterministic) == ("cosine", 1.0, 1.0, True)
    assert t.epochs == 20 and t.patience == 5
    assert cfg(space={"weights": None}).space.freeze == ("none",)
    assert cfg(space={"weights": None, "freeze": ["all"]}).space.freeze == ("all",)  # given: kept
    resolved = resolved_dict(cfg(space={"weights": None}))
    assert resolved["space"]["freeze"] == ["none"]  # the resolved config says what ran


@pytest.mark.parametrize(
    "key, value, match",
    [
        ("schedule", "linear", r"'tuner.schedule' key .* must be one of \['cosine', 'constant'\]"),
        ("clip_norm", 0, r"'tuner.clip_norm' key .* must be null or a number in \(0.0, inf\)"),
        ("warmup_epochs", -1, r"'tuner.warmup_epochs' key .* must be a number in \[0.0, 100.0\]"),
        ("deterministic", "yes", r"'tuner.deterministic' key .* must be true or false"),
    ],
)
def test_recipe_keys_are_validated(key, value, match):
    with pytest.raises(ConfigError, match=match):
        cfg(tuner={key: value})


@pytest.mark.parametrize("key", ["data.split.seed", "tuner.seed"])
@pytest.mark.parametrize("value", [-1, 2**31, 99999999999])
def test_every_seed_is_bounded_where_numpy_and_scikit_learn_accept_it(key, value):
    section, *rest = key.split(".")
    raw = {"data": {"manifest": "m.csv"}}
    node = raw.setdefault(section, {})
    for part in rest[:-1]:
        node = node.setdefault(part, {})
    node[rest[-1]] = value
    with pytest.raises(ConfigError, match=rf"'{key}' key in .* must be an int in \[0, 2147483647\]. Got {value} instead"):
        from_dict(raw)
    node[rest[-1]] = 2**31 - 1
    from_dict(raw)


def test_duplicate_and_leakage_switches_have_defaults_and_are_checked():
    cfg = from_dict({"data": {"manifest": "m.csv"}})
    assert cfg.data.on_duplicate == "error" and cfg.data.allow_shared_images is False
    with pytest.raises(ConfigError, match=r"'data.on_duplicate' .* one of \['error', 'warn'\]. Got 'skip'"):
        from_dict({"data": {"manifest": "m.csv", "on_duplicate": "skip"}})


def test_a_missing_plugin_folder_is_a_warning_unless_it_is_the_default(tmp_path):
    assert from_dict({"data": {"manifest": "m.csv"}}, "c.yaml", tmp_path).warnings() == []  # `plugins` beside the config
    cfg = from_dict({"data": {"manifest": "m.csv"}, "plugins": {"paths": ["mine"]}}, "c.yaml", tmp_path)
    assert cfg.warnings() == [f"plugins.paths in c.yaml names the folder '{tmp_path / 'mine'}', which does not exist; no plugins are loaded from it"]
    (tmp_path / "mine").mkdir()
    assert cfg.warnings() == []


def test_config_files_are_read_bounded(tmp_path):
    (tmp_path / "c.yaml").write_text("data:\n  manifest: m.csv\n  manifest: n.csv\n")
    with pytest.raises(ConfigError, match=r"the key 'manifest' appears twice, at line 2 and line 3"):
        load_config(tmp_path / "c.yaml")
    os.mkfifo(tmp_path / "fifo.yaml")
    with pytest.raises(ConfigError, match=r"is a FIFO \(named pipe\), not a regular file"):
        load_config(tmp_path / "fifo.yaml")
