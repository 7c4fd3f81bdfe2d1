"""The run folder: what blocks a resume and what does not."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from autoorder.core.config import from_dict, load_config, resolved_dict
from autoorder.core.errors import RunError
from autoorder.core.fileio import write_json
from autoorder.data.dataset import load_dataset
from autoorder.run import folder
from tests.helpers import small_search_config


# ----- config and options ------------------------------------------------------------------
def _cfg(**tuner):
    return from_dict({"data": {"manifest": "m.csv"}, "tuner": tuner})


def test_leases_distribution_and_trainer_do_not_block_a_resume():
    from autoorder.core.config import resolved_dict
    from autoorder.run.folder import config_hash

    a = resolved_dict(_cfg())
    b = resolved_dict(_cfg(distribution="mirrored", lease_seconds=10, chief_timeout=5, trainer="keras"))
    assert config_hash(a) == config_hash(b)
    assert config_hash(a) != config_hash(resolved_dict(_cfg(epochs=2)))
    old = resolved_dict(_cfg())  # a run.json written before these keys existed
    for k in ("distribution", "lease_seconds", "chief_timeout", "trainer"):
        del old["tuner"][k]
    for k in ("on_duplicate", "allow_shared_images"):
        del old["data"][k]
    assert config_hash(old) == config_hash(a)



# ----- growing a run, and a run with nothing left to do ------------------------------------
def test_max_trials_and_time_budget_do_not_block_a_resume():
    from autoorder.core.config import resolved_dict
    from autoorder.run.folder import config_hash

    a = resolved_dict(_cfg(max_trials=2))
    assert config_hash(a) == config_hash(resolved_dict(_cfg(max_trials=20, time_budget=600)))
    assert config_hash(a) != config_hash(resolved_dict(_cfg(max_trials=20, seed=1)))


def _finished_run(tmp_path, trials=2, max_trials=2, time_budget=None, stopped="max_trials", seconds=1.0):
    """A run folder as a finished search leaves it (no model inside best_model.keras: not read here)."""
    from autoorder.core.config import resolved_dict
    from autoorder.run import folder
    from autoorder.schema.results import (
        BestModel,
        RunResults,
        TrialRecord,
        write_results,
    )

    out = tmp_path / "run"
    resolved = resolved_dict(_cfg(max_trials=max_trials, time_budget=time_budget))
    (out / folder.TUNER_DIR).mkdir(parents=True)
    (out / folder.RUN_STATE).write_text(json.dumps({"config": resolved, "data_fingerprint": "x"}))
    ids = [str(i) for i in range(trials)]
    for i in ids:
        (out / folder.TUNER_DIR / f"trial_{i}").mkdir()
    (out / folder.TRIAL_SECONDS).write_text(json.dumps({i: {"seconds": seconds, "score": 0.5} for i in ids}))
    records = [TrialRecord(id=i, status="COMPLETED", val_accuracy=0.5, seconds=seconds) for i in ids]
    write_results(out, RunResults(trials=records, best=BestModel(trial="0", val_accuracy=0.5), stopped=stopped))
    (out / "best_model.keras").write_bytes(b"model")
    folder.mark_finished(out, resolved)
    return out


def test_a_finished_run_has_nothing_to_do_until_max_trials_or_time_budget_grows(tmp_path):
    from autoorder.core.config import resolved_dict
    from autoorder.run.folder import finished

    out = _finished_run(tmp_path)
    results, state, why = finished(out, resolved_dict(_cfg(max_trials=2)))
    assert len(results.trials) == 2 and state["data_fingerprint"] == "x" and "tuner.max_trials is 2" in why
    assert finished(out, resolved_dict(_cfg(max_trials=1))) is not None  # fewer asked than done: nothing to do
    assert finished(out, resolved_dict(_cfg(max_trials=3))) is None  # grown: one more trial
    assert finished(out, resolved_dict(_cfg(max_trials=2)), overwrite=True) is None
    assert finished(out, resolved_dict(_cfg(max_trials=2, epochs=9))) is None  # another search: the resume check refuses it
    # A trial of a later session that did not finish (no results for it yet): resume it.
    (out / "tuner" / "trial_2").mkdir()
    assert finished(out, resolved_dict(_cfg(max_trials=2))) is None


def test_a_spent_time_budget_has_nothing_to_do_until_it_grows(tmp_path):
    from autoorder.core.config import resolved_dict
    from autoorder.run.folder import finished

    out = _finished_run(tmp_path, trials=2, max_trials=10, time_budget=1.5, stopped="time_budget", seconds=1.0)
    assert "tuner.time_budget of 1.5s is spent" in finished(out, resolved_dict(_cfg(max_trials=10, time_budget=1.5)))[2]
    assert finished(out, resolved_dict(_cfg(max_trials=20, time_budget=1.5))) is not None  # budget still spent
    assert finished(out, resolved_dict(_cfg(max_trials=10, time_budget=60))) is None


def test_a_search_space_with_no_untried_combination_left_has_nothing_to_do(tmp_path):
    from autoorder.core.config import resolved_dict
    from autoorder.run import folder

    out = _finished_run(tmp_path, trials=2, max_trials=10)  # the oracle stopped at 2 of 10
    assert "no untried combination" in folder.finished(out, resolved_dict(_cfg(max_trials=10)))[2]
    assert folder.finished(out, resolved_dict(_cfg(max_trials=11))) is None
    # A later session grew the run and was killed before its first trial: run.json no longer says
    # the results were finished with this reach, so the next run goes on.
    state = json.loads((out / folder.RUN_STATE).read_text())
    del state["finished"]
    (out / folder.RUN_STATE).write_text(json.dumps(state))
    assert folder.finished(out, resolved_dict(_cfg(max_trials=10))) is None


# ----- resume: what changed, and a lost tuner/ folder ----------------------------------------------
def _started_run(tmp_path):
    cfg = load_config(small_search_config(tmp_path))
    out = tmp_path / "run"
    resolved = resolved_dict(cfg)
    assert folder.prepare_run_dir(out, resolved, overwrite=False) is None
    data = load_dataset(cfg)
    folder.write_state(out, resolved, data.fingerprint(), None, data.split_rows())
    return out, resolved


def test_a_refused_resume_names_the_rows_that_changed(tmp_path):
    out, resolved = _started_run(tmp_path)
    state = folder.prepare_run_dir(out, resolved, overwrite=False)
    Image.fromarray(np.full((16, 16, 3), 7, np.uint8)).save(tmp_path / "data/img/b1_2.png")
    m = tmp_path / "data/manifest.csv"
    m.write_text(m.read_text().replace("img/c4_1.png,c,1,c4", "img/c4_1.png,c,2,c4") + "img/extra.png,c,1,c9\n")
    assert folder.changed_rows(out, state) == [
        "line 21: 'img/b1_2.png': the image file changed (its content differs from when the run started)",
        "line 44: 'img/c4_1.png': order '1' -> '2'",
        "line 47: 'img/extra.png': a new row",
    ]
    with pytest.raises(RunError, match=r"started on different data; resuming is refused. What changed:\n  line 21: 'img/b1_2.png'"):
        folder.check_same_data(out, state, "another fingerprint")


def test_a_run_started_when_the_fingerprint_hashed_pixels_resumes_only_on_unchanged_files(tmp_path):
    out, resolved = _started_run(tmp_path)
    state = json.loads((out / folder.RUN_STATE).read_text())
    del state["data_fingerprint_kind"]  # what run.json held before the fingerprint came from file hashes
    state["data_fingerprint"] = "0123456789abcdef"
    (out / folder.RUN_STATE).write_text(json.dumps(state))
    state = folder.prepare_run_dir(out, resolved, overwrite=False)
    now = load_dataset(load_config(tmp_path / "c.yaml")).fingerprint()
    folder.check_same_data(out, state, now)  # same rows, same file hashes: accepted
    split = out / folder.SPLIT_CSV
    hashed = split.read_text()
    split.write_text(hashed.replace(hashed.splitlines()[1].rsplit(",", 1)[1], ""))  # a row without its hash
    with pytest.raises(RunError, match=r"started on different data; resuming is refused\. \(images, orders or split changed"):
        folder.check_same_data(out, state, now)
    split.write_text(hashed)
    Image.fromarray(np.full((16, 16, 3), 7, np.uint8)).save(tmp_path / "data/img/b1_2.png")
    with pytest.raises(RunError, match=r"What changed:\n  line 21: 'img/b1_2.png': the image file changed"):
        folder.check_same_data(out, state, "another fingerprint")


def test_trials_on_record_without_their_tuner_folder_are_refused(tmp_path):
    out, resolved = _started_run(tmp_path)
    assert folder.prepare_run_dir(out, resolved, overwrite=False) is not None  # started, no trial yet: resumes
    write_json(out / folder.TRIAL_SECONDS, {"0": {"seconds": 1.0, "score": 0.5}})
    with pytest.raises(RunError, match=r"has 1 finished trial\(s\) in trial_seconds.json but no tuner/ folder"):
        folder.prepare_run_dir(out, resolved, overwrite=False)
    (out / folder.TUNER_DIR).mkdir()
    assert folder.prepare_run_dir(out, resolved, overwrite=False) is not None
