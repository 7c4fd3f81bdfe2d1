"""Leases over a stock Keras Tuner oracle, with a fake clock."""

from __future__ import annotations

import json

import pytest

from autoorder.distributed import lease as LS

pytestmark = [pytest.mark.distributed]


# ----- the lease rules on a stock oracle -------------------------------------------------------
class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@pytest.fixture
def lease(tmp_path):
    import keras_tuner as kt

    oracle = kt.oracles.RandomSearchOracle(objective=kt.Objective("val_accuracy", "max"), max_trials=3, seed=0)
    oracle._set_project_dir(str(tmp_path), "p")
    hp = oracle.get_space()
    hp.Choice("x", list(range(20)))
    oracle.update_space(hp)
    lines = []
    return LS.Lease(oracle, seconds=10, log=lines.append, clock=Clock()), lines


def _finish(lease, worker, trial, score=0.5):
    lease.update_trial(worker, trial.trial_id, {"val_accuracy": score})
    trial.status = "COMPLETED"
    return lease.end_trial(worker, trial)


def test_silent_worker_loses_its_trial_and_its_late_result_is_ignored(lease):
    lease, lines = lease
    o = lease.oracle
    t0, t1 = lease.create_trial("w0"), lease.create_trial("w1")
    assert (t0.status, t1.status) == ("RUNNING", "RUNNING")
    lease.clock.t += 6
    assert _finish(lease, "w1", t1) == pytest.approx(6)
    t2 = lease.create_trial("w1")  # w0 silent for 6 s < 10 s: keeps its trial
    assert t2.trial_id not in (t0.trial_id, t1.trial_id) and lease.holder(t0.trial_id) == "w0"
    lease.clock.t += 6
    assert _finish(lease, "w1", t2) is not None
    # max_trials are all handed out; w0, silent for 12 s, loses trial 0 to the worker that asks.
    again = lease.create_trial("w1")
    assert again.trial_id == t0.trial_id and again.status == "RUNNING" and lease.holder(t0.trial_id) == "w1"
    assert any("w0 silent for 12s" in ln for ln in lines) and f"trial {t0.trial_id} handed to w1" in lines
    assert lease.reassigned == [{"trial": t0.trial_id, "from": "w0", "silent_seconds": 12.0}]
    # The presumed-dead worker reports late: ignored, not counted.
    assert not lease.heartbeat("w0", t0.trial_id)
    assert _finish(lease, "w0", o.trials[t0.trial_id], score=0.9) is None
    assert t0.trial_id not in o.end_order and any("ignored the late result" in ln for ln in lines)
    assert not lease.done()
    assert _finish(lease, "w1", again, score=0.7) is not None
    assert sorted(o.end_order) == sorted(o.trials) and len(o.trials) == 3
    assert o.trials[t0.trial_id].score == pytest.approx(0.7)
    assert _finish(lease, "w1", again) is None  # a second completion is never counted
    assert len(o.end_order) == 3
    assert lease.done() and not lease.finished()  # w1 has not been told to stop yet
    assert lease.create_trial("w1").status == "STOPPED"
    assert lease.finished()


def test_no_stop_while_another_worker_may_still_fail(lease):
    lease, _ = lease
    ts = [lease.create_trial("w0"), lease.create_trial("w1"), lease.create_trial("w2")]
    assert _finish(lease, "w2", ts[2]) is not None
    # No new trial left, but w0 and w1 may still die: w2 waits instead of leaving.
    assert lease.create_trial("w2").status == "IDLE"
    assert "w2" in lease.oracle.tuner_ids and not lease.done()
    _finish(lease, "w0", ts[0])
    _finish(lease, "w1", ts[1])
    assert lease.done() and not lease.finished()
    assert [lease.create_trial(w).status for w in ("w0", "w1", "w2")] == ["STOPPED"] * 3
    assert lease.finished()


def test_a_dead_idle_worker_does_not_hold_up_the_end(lease):
    lease, _ = lease
    ts = [lease.create_trial("w0"), lease.create_trial("w1")]
    _finish(lease, "w0", ts[0])
    _finish(lease, "w1", ts[1])
    t = lease.create_trial("w0")
    _finish(lease, "w0", t)
    assert lease.done()
    assert lease.create_trial("w0").status == "STOPPED"
    assert not lease.finished()  # w1 never asked again: it may be alive...
    lease.clock.t += 11
    assert lease.finished()  # ...but not for longer than the lease


def test_a_reloaded_oracle_never_reruns_a_recorded_trial(lease, tmp_path):
    import keras_tuner as kt

    lease, _ = lease
    t0 = lease.create_trial("w0")
    _finish(lease, "w0", t0)
    # The state on disk lists nothing as ongoing (Keras Tuner saved it with t0 still ongoing).
    assert json.loads((tmp_path / "p" / "oracle.json").read_text())["ongoing_trials"] == {}
    reloaded = kt.oracles.RandomSearchOracle(objective=kt.Objective("val_accuracy", "max"), max_trials=3, seed=0)
    reloaded._set_project_dir(str(tmp_path), "p")
    reloaded.reload()
    reloaded._retry_queue.append(t0.trial_id)  # what an older chief's state would hold
    again = LS.Lease(reloaded, seconds=10, clock=Clock())
    again.tidy()
    t = again.create_trial("w0")
    assert t.trial_id != t0.trial_id and reloaded.trials[t0.trial_id].status == "COMPLETED"


def test_a_worker_back_before_anyone_took_over_keeps_its_trial(lease):
    lease, lines = lease
    t0 = lease.create_trial("w0")
    lease.clock.t += 11
    assert lease.expire() == [t0.trial_id]
    assert lease.oracle._retry_queue == [t0.trial_id]
    assert lease.heartbeat("w0", t0.trial_id)
    assert lease.holder(t0.trial_id) == "w0" and lease.oracle._retry_queue == []
    assert any("w0 is back" in ln for ln in lines)
    assert _finish(lease, "w0", t0) is not None

