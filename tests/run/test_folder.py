"""The run folder: what blocks a resume and what does not."""

from __future__ import annotations

import json

from autoorder.core.config import from_dict


# ----- config and options ------------------------------------------------------------------
def _cfg(**tuner):
    return from_dict({"data": {"manifest": "m.csv"}, "tuner": tuner})


def test_leases_and_distribution_do_not_block_a_resume():
    from autoorder.core.config import resolved_dict
    from autoorder.run.folder import config_hash

    a = resolved_dict(_cfg())
    b = resolved_dict(_cfg(distribution="mirrored", lease_seconds=10, chief_timeout=5))
    assert config_hash(a) == config_hash(b)
    assert config_hash(a) != config_hash(resolved_dict(_cfg(epochs=2)))
    old = resolved_dict(_cfg())  # a run.json written before these keys existed
    for k in ("distribution", "lease_seconds", "chief_timeout"):
        del old["tuner"][k]
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
    from autoorder.schema.results import BestModel, RunResults, TrialRecord, write_results

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
