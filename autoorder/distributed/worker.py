"""A worker of a distributed search: a client of the chief with deadlines, and its trial loop.

Keras Tuner's client waits up to an hour per call; here each call waits at most
`tuner.chief_timeout` seconds, then the worker stops with a message that says how to resume.
Running trials renew their lease from a heartbeat thread (every quarter of the lease), so a
long epoch or a feature-cache pass does not look like a dead worker; a dead process sends
nothing.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable

import grpc
from keras_tuner.engine.trial import TrialStatus

from autoorder.compat.keras_tuner import oracle_client, service_grpc
from autoorder.core.config import Config
from autoorder.core.errors import RunError
from autoorder.core.fileio import make_folder
from autoorder.data.dataset import Dataset
from autoorder.distributed.roles import Role, search_signature
from autoorder.distributed.wire import LEASE_SERVICE, METADATA_KEY, dumps, loads
from autoorder.model import session
from autoorder.model.tuner import make_strategy
from autoorder.registry.table import Registry
from autoorder.run import stages

Log = Callable[[str], None]


def run_worker(
    cfg: Config, out: str | Path, role: Role, *, log: Log | None = None,
    registry: Registry | None = None, data: Dataset | None = None,
) -> dict:
    """Run the trials the chief hands out until it says the search is done; a summary."""
    out = Path(out)
    log = log or (lambda line: None)
    if out.exists() and not out.is_dir():
        raise RunError(f"--out {str(out)!r} is a file. Expected a folder for the run.")
    make_folder(out, "run folder")  # a file in the way or a read-only disk: one message
    stages.quiet_framework()
    if cfg.tuner.deterministic:
        session.deterministic_ops()
    registry, data = stages.load(cfg, log, registry, data, out)
    client = ChiefClient(role, cfg.tuner.chief_timeout, cfg.tuner.lease_seconds)
    log(f"worker {role.worker_id}: waiting for the chief at {role.address} (up to {cfg.tuner.chief_timeout:g}s)")
    client.hello({"config": search_signature(cfg), "data": data.fingerprint()})
    log(f"worker {role.worker_id}: training on: {', '.join(session.devices())}")
    space, cache = stages.build_space(cfg, out, registry, data, log)
    run = stages.SearchRun(cfg, out, data, space, cache, None, log)
    tuner = stages.make_tuner(run, link=client, tuner_id=role.worker_id, distribution_strategy=make_strategy(cfg))
    tuner.search(verbose=0)
    return {"role": "worker", "worker": role.worker_id, "chief": role.address, "trials": tuner.trials_run}


class ChiefLost(RunError):
    """The chief did not answer within tuner.chief_timeout."""


class LeaseLost(Exception):
    """This worker's trial was handed to another worker (it was silent longer than the lease)."""


class ChiefClient:
    """Keras Tuner's OracleClient, with deadlines, this worker's name on every call, heartbeats.

    Every call waits for the chief at most `timeout` seconds in all (reconnecting while the
    chief is unreachable), then raises ChiefLost; later calls fail at once.
    """

    def __init__(self, role: Role, timeout: float, lease_seconds: float):
        self.role = role
        self.address = role.address
        self.worker_id = role.worker_id
        self.timeout = float(timeout)
        self.lease_seconds = float(lease_seconds)
        self.poll = min(1.0, self.lease_seconds / 4)
        self.metadata = ((METADATA_KEY, role.worker_id),)
        self.lost: RunError | None = None
        # Short reconnect backoff: a chief that starts late is found within a second or two.
        self.channel = grpc.insecure_channel(
            self.address,
            options=[("grpc.initial_reconnect_backoff_ms", 500), ("grpc.max_reconnect_backoff_ms", 2000)],
        )
        self._hello = self.channel.unary_unary(f"/{LEASE_SERVICE}/Hello", request_serializer=dumps, response_deserializer=loads)
        self._beat = self.channel.unary_unary(f"/{LEASE_SERVICE}/Heartbeat", request_serializer=dumps, response_deserializer=loads)
        self._inner: Any = None

    def call(self, name: str, method: Callable, request: Any) -> Any:
        if self.lost is not None:
            raise self.lost
        deadline = time.monotonic() + self.timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                return method(request, timeout=max(remaining, 0.01), wait_for_ready=True, metadata=self.metadata)
            except grpc.RpcError as e:
                code = e.code()
                if code == grpc.StatusCode.UNAVAILABLE and time.monotonic() < deadline - 0.5:
                    time.sleep(0.5)  # the connection dropped mid-call: try again within the deadline
                    continue
                if code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE):
                    self.lost = ChiefLost(
                        f"The chief at {self.address} did not answer for {self.timeout:g} s (tuner.chief_timeout); "
                        f"worker {self.worker_id} stops. Restart the chief (finished trials are kept), then this "
                        "worker with the same command: interrupted trials continue from their last finished epoch."
                    )
                    raise self.lost from None
                raise RunError(f"The chief at {self.address} refused {name}: {e.details()}") from None

    def hello(self, expect: dict) -> dict:
        """Wait for the chief; refuse to work for a search with another config or other data."""
        info = self.call("Hello", self._hello, {"worker": self.worker_id})
        for key, what in (("config", "config (space, tuner, data settings)"), ("data", "data (images, orders or split)")):
            if info.get(key) != expect.get(key):
                raise RunError(
                    f"Worker {self.worker_id} has a different {what} than the chief at {self.address} "
                    f"({expect.get(key)} here, {info.get(key)} there). Start every worker with the chief's config "
                    "and the same data."
                )
        return info

    def bind(self, oracle: Any) -> "ChiefClient":
        """Wrap the worker's local oracle (objective, max_trials...) like Keras Tuner's client."""
        stub = _DeadlineStub(self, service_grpc().OracleStub(self.channel))
        self._inner = oracle_client(oracle, stub, self.worker_id)
        return self

    def __getattr__(self, name: str) -> Any:
        if name == "_inner" or self._inner is None:
            raise AttributeError(name)
        return getattr(self._inner, name)

    def create_trial(self, tuner_id: str) -> Any:
        trial = self._inner.create_trial(tuner_id)
        if trial.status == TrialStatus.IDLE:
            time.sleep(self.poll)  # Keras Tuner's loop asks again at once
        return trial

    def heartbeat(self, trial_id: str) -> "Heartbeat":
        # Often enough to keep the lease, and to notice a dead chief within about chief_timeout.
        return Heartbeat(self, trial_id, max(min(self.lease_seconds, self.timeout) / 4, 0.25))

    def beat(self, trial_id: str) -> bool:
        return bool(self.call("Heartbeat", self._beat, {"worker": self.worker_id, "trial": trial_id})["holder"])


class _DeadlineStub:
    """Keras Tuner's gRPC stub, each call through `ChiefClient.call` (deadline, worker name)."""

    def __init__(self, client: ChiefClient, stub: Any):
        self._client = client
        self._stub = stub

    def __getattr__(self, name: str) -> Callable:
        method = getattr(self._stub, name)

        def call(request: Any, **_: Any) -> Any:  # Keras Tuner's own timeout is dropped
            return self._client.call(name, method, request)

        return call


class Heartbeat:
    """Renews a running trial's lease from a thread; `check()` raises if it was lost."""

    def __init__(self, client: ChiefClient, trial_id: str, interval: float):
        self.client = client
        self.trial_id = trial_id
        self.interval = interval
        self.error: RunError | None = None
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{trial_id}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if not self.client.beat(self.trial_id):
                    self.lost = True
                    return
            except RunError as e:
                self.error = e
                return

    def check(self) -> None:
        if self.error is not None:
            raise self.error
        if self.lost:
            raise LeaseLost(
                f"trial {self.trial_id} was handed to another worker (no word from {self.client.worker_id} "
                f"for over {self.client.lease_seconds:g}s); dropped here"
            )

    def stop(self) -> None:
        self._stop.set()
