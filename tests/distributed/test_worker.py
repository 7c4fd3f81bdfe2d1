"""The worker's client: a chief that does not answer ends the worker with a clear message."""

from __future__ import annotations

import time

import pytest

from autoorder.distributed import launch as L
from autoorder.distributed import roles as R
from autoorder.distributed import worker as W

pytestmark = [pytest.mark.distributed]


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

