"""Roles from the command line and Keras Tuner's variables; usage errors."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from autoorder.cli import main
from autoorder.distributed import launch as L
from autoorder.distributed import roles as R
from tests.helpers import simple_dataset, small_search_config

pytestmark = [pytest.mark.distributed]

MAX_TRIALS = 4


@pytest.fixture
def cfg(tmp_path):
    return small_search_config(tmp_path, max_trials=MAX_TRIALS, epochs=2, lease_seconds=4, chief_timeout=120, checkpoint_seconds=0)


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

