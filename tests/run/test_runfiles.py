"""Run files read back through checked loaders: each names the file and what is wrong."""

from __future__ import annotations

import json
import os

import pytest

from autoorder.core.config import dump_yaml, from_dict, resolved_dict
from autoorder.core.errors import RunError
from autoorder.run import runfiles


def test_labels_must_be_distinct_class_names(tmp_path):
    (tmp_path / "labels.json").write_text('["a", "b"]')
    assert runfiles.read_labels(tmp_path) == ["a", "b"]
    for bad in ('{"a": 1}', '["a"]', '["a", "a"]', '["a", ""]', '["a", 2]'):
        (tmp_path / "labels.json").write_text(bad)
        with pytest.raises(RunError, match=r"labels.json' must hold the class names in the order of the model's outputs"):
            runfiles.read_labels(tmp_path)


def test_the_run_config_is_validated_as_a_config(tmp_path):
    cfg = from_dict({"data": {"manifest": "m.csv"}}, "c.yaml", tmp_path)
    (tmp_path / "config.resolved.yaml").write_text(dump_yaml(resolved_dict(cfg)))
    assert runfiles.read_run_config(tmp_path).data.columns["image"] == "image"
    (tmp_path / "config.resolved.yaml").write_text("data: {manifest: m.csv, max_image_pixels: many}\n")
    with pytest.raises(RunError, match=r"'data.max_image_pixels' key in [^ ]*config.resolved.yaml must be an int >= 1.*It is a run file"):
        runfiles.read_run_config(tmp_path)
    (tmp_path / "config.resolved.yaml").unlink()
    os.mkfifo(tmp_path / "config.resolved.yaml")
    with pytest.raises(RunError, match=r"is a FIFO"):
        runfiles.read_run_config(tmp_path)


def test_run_state_and_trial_times_have_their_shape_checked(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"config": {}, "data_fingerprint": "ab"}))
    assert runfiles.read_run_state(tmp_path)["data_fingerprint"] == "ab"
    (tmp_path / "run.json").write_text(json.dumps({"config": [], "data_fingerprint": "ab"}))
    with pytest.raises(RunError, match=r"run.json' is not an autoorder run state"):
        runfiles.read_run_state(tmp_path)
    (tmp_path / "run.json").write_text(json.dumps({"config": {}, "data_fingerprint": 3}))
    with pytest.raises(RunError, match=r"'data_fingerprint' that is not a string"):
        runfiles.read_run_state(tmp_path)
    assert runfiles.read_trial_seconds(tmp_path / "trial_seconds.json") == {}
    (tmp_path / "trial_seconds.json").write_text('{"0": 1}')
    with pytest.raises(RunError, match=r"trial_seconds.json' must map each trial id to \{seconds, score\}"):
        runfiles.read_trial_seconds(tmp_path / "trial_seconds.json")


def test_a_weights_file_is_checked_before_h5py_reads_it(tmp_path):
    import h5py  # lazy: h5py comes with Keras; a real HDF5 file to damage

    path = tmp_path / "checkpoint.weights.h5"
    with h5py.File(path, "w") as f:
        f["w"] = list(range(10_000))
    runfiles.check_weights_file(path, "the best trial's weights")
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(RunError, match=r"checkpoint.weights.h5' \(the best trial's weights\) is damaged: .*truncated"):
        runfiles.check_weights_file(path, "the best trial's weights")
    path.write_text("nope")
    with pytest.raises(RunError, match=r"is not an HDF5 file \(it starts with b'nope'\)"):
        runfiles.check_weights_file(path, "the best trial's weights")
