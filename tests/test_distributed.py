"""Distributed search: a chief and workers on 127.0.0.1, leases, a dead worker, a dead chief.

The slow tests launch real processes (`autoorder search --workers 2`, `--role worker`), each
with a timeout. The lease logic is also tested in-process on a stock Keras Tuner oracle with a
fake clock, so its rules (expiry, first completion wins, stop only when all is done) are
checked without timing luck.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from autoorder.distributed import launch as L, lease as LS, roles as R, worker as W
from autoorder.cli import main
from autoorder.core.config import from_dict
from autoorder.core.errors import ConfigError

from helpers import simple_dataset, small_search_config

MAX_TRIALS = 4
RUN_FILES = {
    "config.resolved.yaml", "results.json", "trials.csv", "best_model.keras", "labels.json",
    "split.csv", "test_predictions.csv", "run.json", "trial_seconds.json", "tuner",
}


# ----- config and options ------------------------------------------------------------------
def _cfg(**tuner):
    return from_dict({"data": {"manifest": "m.csv"}, "tuner": tuner})


def test_new_tuner_keys_have_defaults():
    t = _cfg().tuner
    assert (t.distribution, t.lease_seconds, t.chief_timeout) == (None, 120.0, 300.0)
    t = _cfg(distribution="mirrored", lease_seconds=5, chief_timeout=2.5).tuner
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
        _cfg(**{key: value})


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


def test_roles_from_options_and_keras_tuner_variables():
    assert R.role_from_options(None, None, None, {}) is None
    chief = R.role_from_options("chief", "8000", None, {})
    assert (chief.kind, chief.address) == ("chief", "127.0.0.1:8000")  # loopback unless told otherwise
    assert R.role_from_options("chief", "0.0.0.0:8000", None, {}).address == "0.0.0.0:8000"
    w = R.role_from_options("worker", "10.0.0.5:8000", "hostb-gpu0", {})
    assert (w.is_worker, w.host, w.port, w.worker_id) == (True, "10.0.0.5", 8000, "hostb-gpu0")
    env = {"KERASTUNER_TUNER_ID": "tuner1", "KERASTUNER_ORACLE_IP": "10.0.0.5", "KERASTUNER_ORACLE_PORT": "9000"}
    assert R.role_from_options(None, None, None, env) == R.Role("worker", "10.0.0.5", 9000, "tuner1")
    env["KERASTUNER_TUNER_ID"] = "chief"
    assert R.role_from_options(None, None, None, env) == R.Role("chief", "10.0.0.5", 9000)
    for args, match in [
        (("worker", "8000", "w0"), "chief's HOST:PORT"),
        (("worker", "h:8000", None), "needs --worker-id"),
        (("worker", "h:8000", "a b"), "letters, digits"),
        (("chief", None, None), "needs --oracle"),
        (("chief", "h:99999", None), "port in 1..65535"),
        ((None, "h:8000", None), "go with --role"),
    ]:
        with pytest.raises(ValueError, match=match):
            R.role_from_options(*args, environ={})
    assert L.parse_gpus("0, 1") == ["0", "1"]
    with pytest.raises(ValueError, match="twice"):
        L.parse_gpus("0,0")


def test_cli_usage_errors(tmp_path):
    simple_dataset(tmp_path / "data")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data: {manifest: data/manifest.csv}\n")
    runner = CliRunner()
    for args, match in [
        (["--workers", "2", "--role", "chief", "--oracle", "8000"], "does not go with --role"),
        (["--role", "worker", "--oracle", "127.0.0.1:8000"], "needs --worker-id"),
        (["--role", "worker", "--oracle", "127.0.0.1:8000", "--worker-id", "w", "--overwrite"], "--overwrite is for the chief"),
        (["--workers", "3", "--gpus", "0,1"], "one GPU per worker"),
        (["--workers", "0"], "0"),
    ]:
        r = runner.invoke(main, ["search", str(cfg), "--out", str(tmp_path / "run"), *args])
        assert r.exit_code == 2, (args, r.output)
        assert match in r.output, r.output
    assert not (tmp_path / "run").exists()


def test_client_gives_up_after_chief_timeout():
    role = R.Role("worker", "127.0.0.1", L.free_port(), "w0")
    client = W.ChiefClient(role, timeout=1.0, lease_seconds=4)
    t0 = time.monotonic()
    with pytest.raises(W.ChiefLost, match=r"did not answer for 1 s \(tuner.chief_timeout\).*Restart the chief \(finished trials are kept\)"):
        client.hello({})
    assert 0.9 <= time.monotonic() - t0 < 10
    t0 = time.monotonic()
    with pytest.raises(W.ChiefLost):  # later calls fail at once
        client.beat("0")
    assert time.monotonic() - t0 < 0.5


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


# ----- real processes ------------------------------------------------------------------------
def _env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    for k in ("AUTOORDER_KILL_AT", L.WORKER_ENV, *R.KERASTUNER_VARS):
        env.pop(k, None)
    env.update(extra)
    return env


def _search(cfg, out, *args, env=None, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "autoorder", "search", str(cfg), "--out", str(out), *args],
        env=env or _env(), capture_output=True, text=True, timeout=timeout,
    )


def _progress(stderr):
    return re.findall(rf"^trial (\d+)/{MAX_TRIALS} ", stderr, flags=re.M)


@pytest.fixture
def cfg(tmp_path):
    return small_search_config(tmp_path, max_trials=MAX_TRIALS, epochs=2, lease_seconds=4, chief_timeout=120, checkpoint_seconds=0)


def _check_run(out):
    assert RUN_FILES <= {p.name for p in out.iterdir()}
    res = json.loads((out / "results.json").read_text())
    assert len(res["trials"]) == MAX_TRIALS
    assert all(t["status"] == "COMPLETED" for t in res["trials"])
    assert sorted(t["id"] for t in res["trials"]) == [str(i) for i in range(MAX_TRIALS)]
    assert res["best"]["trial"] in res["ranking"]
    assert len(json.loads((out / "trial_seconds.json").read_text())) == MAX_TRIALS
    completed = [json.loads(p.read_text())["status"] for p in (out / "tuner").glob("trial_*/trial.json")]
    assert completed == ["COMPLETED"] * MAX_TRIALS
    import keras

    model = keras.saving.load_model(out / "best_model.keras", safe_mode=True)
    assert sorted(t.name for t in model.inputs) == ["image", "order"]
    return res


@pytest.mark.slow
def test_chief_and_two_workers_complete_a_search_and_resume(tmp_path, cfg):
    out = tmp_path / "run"
    r = _search(cfg, out, "--workers", "2")
    assert r.returncode == 0, r.stderr[-4000:]
    res = _check_run(out)
    assert sorted(_progress(r.stderr), key=int) == [str(i) for i in range(1, MAX_TRIALS + 1)], r.stderr
    assert "[worker0] " in r.stderr and "[worker1] " in r.stderr
    assert "best:" in r.stdout and "results:" in r.stdout
    assert res["distributed"]["workers"] == ["worker0", "worker1"] and res["distributed"]["reassigned"] == []
    # The same command again resumes: nothing is trained again.
    before = (out / "trial_seconds.json").read_text()
    again = _search(cfg, out, "--workers", "2")
    assert again.returncode == 0, again.stderr[-4000:]
    assert "resuming" in again.stderr and _progress(again.stderr) == []
    assert (out / "trial_seconds.json").read_text() == before


@pytest.mark.slow
def test_killed_worker_trial_is_handed_over_and_counted_once(tmp_path, cfg):
    out = tmp_path / "run"
    # worker0 dies by kill -9 in the 2nd epoch of its 2nd trial (one batch callback per epoch: 4
    # batches, run 8 per TensorFlow call).
    env = _env(**{L.WORKER_ENV: json.dumps({"worker0": {"AUTOORDER_KILL_AT": "batch:4"}})})
    r = _search(cfg, out, "--workers", "2", env=env)
    assert r.returncode == 0, r.stderr[-4000:]
    assert "[worker0] exited with signal SIGKILL" in r.stderr, r.stderr
    res = _check_run(out)
    moved = [m["trial"] for m in res["distributed"]["reassigned"] if m["from"] == "worker0"]
    assert len(moved) == 1, r.stderr
    assert f"trial {moved[0]} handed to worker1" in r.stderr
    # It continues from the dead worker's last finished epoch, and is counted once.
    assert f"[worker1] trial {moved[0]} resumes at epoch 2" in r.stderr, r.stderr
    assert sorted(_progress(r.stderr), key=int) == [str(i) for i in range(1, MAX_TRIALS + 1)], r.stderr


@pytest.mark.slow
def test_worker_without_a_chief_exits_with_a_clear_message(tmp_path, cfg):
    port = L.free_port()
    t0 = time.monotonic()
    r = _search(cfg, tmp_path / "run", "--role", "worker", "--oracle", f"127.0.0.1:{port}", "--worker-id", "w0",
                "--set", "tuner.chief_timeout=3", timeout=120)
    assert r.returncode == 1, r.stderr[-3000:]
    assert f"The chief at 127.0.0.1:{port} did not answer for 3 s (tuner.chief_timeout)" in r.stderr
    assert "finished trials are kept" in r.stderr and "Traceback" not in r.stderr
    assert time.monotonic() - t0 < 60


@pytest.mark.slow
def test_mirrored_distribution_runs_a_search(tmp_path, cfg):
    r = CliRunner().invoke(main, [
        "search", str(cfg), "--out", str(tmp_path / "run"),
        "--set", "tuner.distribution=mirrored", "--set", "tuner.max_trials=1", "--set", "tuner.epochs=1",
    ])
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    assert [t["status"] for t in res["trials"]] == ["COMPLETED"] and res["best"]["test_accuracy"] is not None
