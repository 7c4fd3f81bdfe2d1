"""Deterministic crash points for the kill tests (never active unless the variable is set).

`AUTOORDER_KILL_AT=POINT:N` sends SIGKILL to this process the N-th time POINT is reached:
`batch` (a training batch ends), `epoch` (an epoch's state is saved), `trial` (a trial is
recorded), `write` (an atomic write has its data on disk but is not yet renamed), `pass` (a batch of
the backbone pass is written to the feature cache, not yet published).
"""

from __future__ import annotations

import os
import signal

_counts: dict[str, int] = {}


def reached(point: str) -> None:
    spec = os.environ.get("AUTOORDER_KILL_AT")
    if not spec:
        return
    name, _, n = spec.partition(":")
    if name != point:
        return
    _counts[point] = _counts.get(point, 0) + 1
    if _counts[point] == int(n or 1):
        os.kill(os.getpid(), signal.SIGKILL)
