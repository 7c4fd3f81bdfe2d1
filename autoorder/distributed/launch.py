"""A chief and N workers on this host, as child processes (no TensorFlow in the launcher).

`autoorder search CONFIG --workers N [--gpus 0,1]` starts a chief and N workers (port picked on
127.0.0.1, one GPU per worker through CUDA_VISIBLE_DEVICES), streams their lines (workers
prefixed with their id), stops every child on Ctrl-C or on an error, and exits with the chief's
code. `AUTOORDER_WORKER_ENV` (internal, for tests) is a JSON mapping worker id -> extra
environment variables for that worker only (e.g. a fault injection).
"""

from __future__ import annotations

import ctypes
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from autoorder.core.config import load_config, resolved_dict
from autoorder.core.errors import RunError
from autoorder.core.fileio import folder_lock
from autoorder.distributed.roles import KERASTUNER_VARS, LOOPBACK
from autoorder.run.folder import prepare_run_dir

Log = Callable[[str], None]

WORKER_ENV = "AUTOORDER_WORKER_ENV"
# After the chief has written the results, workers get this long to exit on their own (they
# have been told to stop; one still starting up has nothing left to do).
WORKER_EXIT_GRACE = 5.0
STOP_GRACE = 5.0


def free_port(host: str = LOOPBACK) -> int:
    """A port nobody listens on right now (bind port 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def parse_gpus(text: str | None) -> list[str] | None:
    if text is None:
        return None
    gpus = [g.strip() for g in str(text).split(",") if g.strip()]
    if not gpus or not all(re.fullmatch(r"[A-Za-z0-9:-]+", g) for g in gpus):
        raise ValueError(f"--gpus must be a comma-separated list of GPU ids (e.g. 0,1). Got {text!r} instead.")
    if len(set(gpus)) != len(gpus):
        raise ValueError(f"--gpus lists a GPU twice; each worker needs its own. Got {text!r} instead.")
    return gpus


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"code {code}"


def _parent_death_signal() -> Callable[[], None] | None:
    """Linux: children get SIGTERM if the launcher dies (even by kill -9), never orphans."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return None
    prctl = libc.prctl  # looked up before fork: the child only calls it

    def set_pdeathsig() -> None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    return set_pdeathsig


@dataclass
class _Child:
    name: str
    argv: list
    env: dict
    prefix: str
    proc: Any = None
    readers: list = field(default_factory=list)
    reported: bool = False


class _Group:
    """The chief and its workers as child processes, their lines funnelled to one place."""

    def __init__(self, children: list[_Child], log: Log, echo: Log):
        self.children = children
        self.log = log
        self.echo = echo
        self.lines: queue.Queue = queue.Queue()

    def start(self) -> None:
        preexec = _parent_death_signal()
        for c in self.children:  # every fork before any reader thread exists
            c.proc = subprocess.Popen(
                c.argv, env=c.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, bufsize=1, start_new_session=True, preexec_fn=preexec,
            )
        for c in self.children:
            for stream, to_stdout in ((c.proc.stdout, c.prefix == ""), (c.proc.stderr, False)):
                t = threading.Thread(target=self._read, args=(c, stream, to_stdout), daemon=True)
                t.start()
                c.readers.append(t)

    def _read(self, child: _Child, stream: Any, to_stdout: bool) -> None:
        for line in stream:
            self.lines.put((to_stdout, child.prefix + line.rstrip("\n")))
        stream.close()

    def pump(self, wait: float = 0.2) -> None:
        try:
            item = self.lines.get(timeout=wait)
        except queue.Empty:
            return
        while True:
            to_stdout, line = item
            (self.echo if to_stdout else self.log)(line)
            try:
                item = self.lines.get_nowait()
            except queue.Empty:
                return

    def drain(self, child: _Child) -> None:
        for t in child.readers:
            t.join(timeout=5)
        self.pump(0)

    def stop(self, children: list[_Child]) -> None:
        running = [c for c in children if c.proc is not None and c.proc.poll() is None]
        for c in running:
            c.proc.terminate()
        end = time.monotonic() + STOP_GRACE
        for c in running:
            try:
                c.proc.wait(timeout=max(end - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                c.proc.kill()
                c.proc.wait()
        for c in children:
            if c.proc is not None:
                self.drain(c)

    def supervise(self, lease_seconds: float) -> int:
        """Stream lines until the chief is done; returns the exit code of the search."""
        chief, workers = self.children[0], self.children[1:]
        chief_done_at = None
        while True:
            self.pump()
            for w in workers:
                code = w.proc.poll()
                if code is not None and not w.reported:
                    w.reported = True
                    if code != 0 and chief.proc.poll() is None:
                        self.log(
                            f"{w.prefix}exited with {_describe_exit(code)}; its trial goes to another worker "
                            f"once its lease ({lease_seconds:g}s) runs out"
                        )
            code = chief.proc.poll()
            if code is not None:
                if code != 0:
                    self.stop(self.children)
                    return code
                chief_done_at = chief_done_at or time.monotonic()
                if all(w.proc.poll() is not None for w in workers) or time.monotonic() - chief_done_at > WORKER_EXIT_GRACE:
                    self.stop(self.children)  # workers still starting up have nothing left to do
                    return 0
                continue
            if all(w.proc.poll() is not None for w in workers) and not any(w.proc.returncode == 0 for w in workers):
                self.stop(self.children)
                raise RunError(
                    "Every worker stopped before the search was done (see their lines above); the chief was "
                    "stopped too. Run the same command again to resume: finished trials are kept."
                )


def launch(
    config: str | Path,
    out: str | Path,
    *,
    workers: int,
    gpus: list[str] | None = None,
    overrides: tuple[str, ...] = (),
    overwrite: bool = False,
    debug: bool = False,
    log: Log,
    echo: Log,
    python: str = sys.executable,
) -> int:
    """Run a chief and `workers` workers on this host; returns the exit code of the search."""
    config, out = Path(config).resolve(), Path(out).resolve()
    cfg = load_config(config, overrides)  # a bad config stops here, before any process starts
    if gpus is not None and len(gpus) != workers:
        raise ValueError(f"--gpus lists {len(gpus)} GPU(s) for --workers {workers}; give one GPU per worker.")
    # Done here, once, so that no child deletes what another has started writing; under the
    # folder's lock, so that a search already running there is never cleared. The chief takes
    # the lock for the search itself once it starts.
    with folder_lock(out, "run"):
        prepare_run_dir(out, resolved_dict(cfg), overwrite)
    address = f"{LOOPBACK}:{free_port()}"
    base = [python, "-m", "autoorder", *(["--debug"] if debug else []), "search", str(config), "--out", str(out)]
    for item in overrides:
        base += ["--set", item]
    env = {k: v for k, v in os.environ.items() if k not in KERASTUNER_VARS and k != WORKER_ENV}
    env["PYTHONUNBUFFERED"] = "1"
    extra = json.loads(os.environ.get(WORKER_ENV) or "{}")
    chief_env = dict(env)
    if gpus is not None:
        chief_env["CUDA_VISIBLE_DEVICES"] = ""  # the chief trains nothing; GPUs are the workers'
    children = [_Child("chief", base + ["--role", "chief", "--oracle", address], chief_env, "")]
    for i in range(workers):
        wid = f"worker{i}"
        wenv = dict(env, **{str(k): str(v) for k, v in extra.get(wid, {}).items()})
        if gpus is not None:
            wenv["CUDA_VISIBLE_DEVICES"] = gpus[i]
        argv = base + ["--role", "worker", "--oracle", address, "--worker-id", wid]
        children.append(_Child(wid, argv, wenv, f"[{wid}] "))
    where = f" on GPUs {','.join(gpus)}" if gpus else ""
    log(f"launching a chief on {address} and {workers} worker(s){where}")
    group = _Group(children, log, echo)
    try:
        group.start()
        return group.supervise(cfg.tuner.lease_seconds)
    finally:
        group.stop(children)
