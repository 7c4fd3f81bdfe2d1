"""kill -9 at deterministic points, then the same command again: the search completes exactly.

AUTOORDER_KILL_AT=POINT:N (autoorder.core.faults) kills the search process the N-th time it reaches
POINT: mid-epoch (batch), after an epoch (epoch), between trials (trial), or inside an atomic
state write after the data is on disk but before the rename (write).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.helpers import small_search_config

pytestmark = [pytest.mark.slow, pytest.mark.kill]

MAX_TRIALS = 3


def _search(cfg, out, kill_at=None, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("AUTOORDER_KILL_AT", None)
    if kill_at:
        env["AUTOORDER_KILL_AT"] = kill_at
    return subprocess.run(
        [sys.executable, "-m", "autoorder", "search", str(cfg), "--out", str(out), *args],
        env=env, capture_output=True, text=True, timeout=600,
    )


def _completed(out):
    trials = {}
    for p in sorted((out / "tuner").glob("trial_*/trial.json")):
        t = json.loads(p.read_text())
        if t["status"] == "COMPLETED":
            trials[t["trial_id"]] = (t["hyperparameters"]["values"], t["score"], t["metrics"])
    return trials


@pytest.fixture
def cfg(tmp_path):
    return small_search_config(tmp_path, max_trials=MAX_TRIALS, epochs=3, checkpoint_seconds=0)


@pytest.mark.parametrize("kill_at", ["batch:2", "epoch:2", "trial:1", "write:6"])
def test_killed_search_resumes_to_exactly_max_trials(tmp_path, cfg, kill_at):
    out = tmp_path / "run"
    first = _search(cfg, out, kill_at)
    assert first.returncode == -signal.SIGKILL, first.stderr[-3000:]
    finished = _completed(out) if (out / "tuner").exists() else {}
    second = _search(cfg, out)
    assert second.returncode == 0, second.stderr[-3000:]
    res = json.loads((out / "results.json").read_text())
    assert len(res["trials"]) == MAX_TRIALS
    assert all(t["status"] == "COMPLETED" for t in res["trials"])
    assert len(list((out / "tuner").glob("trial_*"))) == MAX_TRIALS
    after = _completed(out)
    # Trials that had finished are kept unchanged and not run again.
    for tid, record in finished.items():
        assert after[tid] == record
    ran_again = [ln for ln in second.stderr.splitlines() if ln.startswith("trial ")]
    assert len([ln for ln in ran_again if "/3" in ln]) == MAX_TRIALS - len(finished), second.stderr
    if kill_at == "epoch:2":
        # The interrupted trial continues from its last finished epoch.
        assert "trial 0 resumes at epoch 3" in second.stderr, second.stderr
    assert (out / "best_model.keras").exists()


def test_a_search_killed_in_its_backbone_pass_leaves_no_torn_cache_and_makes_the_pass_again(tmp_path, cfg):
    out = tmp_path / "run"
    first = _search(cfg, out, "pass:1", "--set", "space.freeze=all", "--set", "tuner.max_trials=1")
    assert first.returncode == -signal.SIGKILL, first.stderr[-3000:]
    assert list((out / "cache").glob(".pass-*")) and not list((out / "cache").glob("features-*"))
    second = _search(cfg, out, None, "--set", "space.freeze=all", "--set", "tuner.max_trials=1")
    assert second.returncode == 0, second.stderr[-3000:]
    assert json.loads((out / "results.json").read_text())["cache"]["backbone_passes"] == 1
    assert not list((out / "cache").glob(".pass-*")) and len(list((out / "cache").glob("features-*/meta.json"))) == 1
