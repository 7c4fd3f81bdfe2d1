"""Distributed search on Keras Tuner's chief/worker engine: launching, leases, deadlines.

Keras Tuner already runs one oracle (the chief, a gRPC server) for many tuners (workers).
autoorder keeps that engine and its search algorithms, and adds what it lacks:

- **Launching** (`launch`): `autoorder search CONFIG --workers N [--gpus 0,1]` starts a chief
  and N workers on this host (port picked on 127.0.0.1, one GPU per worker through
  CUDA_VISIBLE_DEVICES), streams their lines (workers prefixed with their id), stops every child
  on Ctrl-C or on an error, and exits with the chief's code.
- **Leases** (`Lease`, `serve`): every call from a worker renews its contact; a worker silent
  for `tuner.lease_seconds` loses its ongoing trial, which goes back to Keras Tuner's retry
  queue (the queue `Oracle.reload` uses) for the next worker that asks. A late result of a
  trial that went to another worker is ignored, so no trial counts twice, and the chief ends
  once `max_trials` trials are done even if a dead worker never reports.
- **Deadlines** (`ChiefClient`): Keras Tuner's client waits up to an hour per call; here each
  call waits at most `tuner.chief_timeout` seconds, then the worker stops with a message that
  says how to resume.

Running trials renew their lease from a heartbeat thread (every quarter of the lease), so a
long epoch or a feature-cache pass does not look like a dead worker; a dead process sends
nothing. Workers name themselves in gRPC metadata (`autoorder-worker`); the chief also
serves a small `autoorder.Lease` service (Hello: config and data check; Heartbeat) beside
Keras Tuner's own.

Only `launch` runs in a process without TensorFlow; gRPC and Keras Tuner are imported inside
the functions that need them. `AUTOORDER_WORKER_ENV` (internal, for tests) is a JSON mapping
worker id -> extra environment variables for that worker only (e.g. a fault injection).
"""

from __future__ import annotations

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

from autoorder.errors import RunError

Log = Callable[[str], None]

WORKER_ENV = "AUTOORDER_WORKER_ENV"
METADATA_KEY = "autoorder-worker"
LEASE_SERVICE = "autoorder.Lease"
WORKER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
KERASTUNER_VARS = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
LOOPBACK = "127.0.0.1"
# After the chief has written the results, workers get this long to exit on their own (they
# have been told to stop; one still starting up has nothing left to do).
WORKER_EXIT_GRACE = 5.0
STOP_GRACE = 5.0


# ----- roles ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Role:
    """This process in a distributed search: the chief (serves the oracle) or a worker."""

    kind: str  # "chief" | "worker"
    host: str
    port: int
    worker_id: str | None = None

    @property
    def is_worker(self) -> bool:
        return self.kind == "worker"

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_oracle(text: str, kind: str) -> tuple[str, int]:
    """`HOST:PORT` (or, for the chief, a bare `PORT`: loopback) -> (host, port)."""
    raw = str(text).strip()
    host, sep, port = raw.rpartition(":")
    if not sep:
        host, port = "", raw
    host = host.strip("[]")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"--oracle must be HOST:PORT with a port in 1..65535 (e.g. 127.0.0.1:8000). Got {raw!r} instead.")
    if not host:
        if kind == "worker":
            raise ValueError(f"--oracle of a worker must be the chief's HOST:PORT (e.g. 192.168.1.10:8000). Got {raw!r} instead.")
        host = LOOPBACK  # the chief listens on loopback unless told otherwise
    return host, int(port)


def role_from_options(
    role: str | None, oracle: str | None, worker_id: str | None, environ: dict | None = None
) -> Role | None:
    """The role from `--role/--oracle/--worker-id`, else from Keras Tuner's KERASTUNER_* variables.

    Raises ValueError (a usage error) when the options do not fit together.
    """
    environ = os.environ if environ is None else environ
    if role is None and "KERASTUNER_ORACLE_IP" in environ:
        tuner_id = environ.get("KERASTUNER_TUNER_ID", "")
        role = "chief" if "chief" in tuner_id else "worker"
        oracle = oracle or f"{environ['KERASTUNER_ORACLE_IP']}:{environ.get('KERASTUNER_ORACLE_PORT', '')}"
        if role == "worker":
            worker_id = worker_id or tuner_id or None
    if role is None:
        if oracle or worker_id:
            raise ValueError("--oracle and --worker-id go with --role chief|worker.")
        return None
    if not oracle:
        raise ValueError(f"--role {role} needs --oracle HOST:PORT (the chief's address).")
    host, port = parse_oracle(oracle, role)
    if role == "chief":
        if worker_id:
            raise ValueError("--worker-id is for --role worker; the chief has no worker id.")
        return Role("chief", host, port)
    if not worker_id:
        raise ValueError("--role worker needs --worker-id ID, a name unique in the search (e.g. hostb-gpu0).")
    if not WORKER_ID.match(worker_id) or "chief" in worker_id:
        raise ValueError(
            "--worker-id must be letters, digits, '.', '_' or '-' (at most 64, not containing 'chief'). "
            f"Got {worker_id!r} instead."
        )
    return Role("worker", host, port, worker_id)


def search_signature(cfg: Any) -> str:
    """What chief and workers must agree on: the search, not paths or operational settings."""
    import hashlib

    from autoorder import config as C

    d = C.without_operational(C.to_dict(cfg))
    d["data"].pop("manifest", None)  # each host has its own path to the same data
    d.pop("plugins", None)
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


# ----- chief: leases over Keras Tuner's oracle -----------------------------------------------
class Refused(Exception):
    """A worker asked about something the chief does not know; the worker hears why, the chief goes on."""


@dataclass
class Lease:
    """Who holds which trial and when each worker was last heard from, over a stock oracle.

    Every method is called with the chief's lock held. `oracle` is Keras Tuner's own
    (`ongoing_trials`, `_retry_queue`, `tuner_ids`, `end_order` are its bookkeeping).
    """

    oracle: Any
    seconds: float
    log: Log = lambda s: None
    clock: Callable[[], float] = time.monotonic
    last: dict = field(default_factory=dict)  # worker -> last contact
    handed: dict = field(default_factory=dict)  # trial id -> (worker, time handed out)
    reassigned: list = field(default_factory=list)
    stopped: bool = False

    def touch(self, worker: str | None) -> None:
        if worker:
            self.last[worker] = self.clock()

    def tidy(self) -> None:
        """After a reload: a recorded trial is never retried (Keras Tuner saves its state inside
        end_trial, before the trial leaves the ongoing list, and requeues what was ongoing)."""
        ended = set(self.oracle.end_order)
        self.oracle._retry_queue[:] = [t for t in self.oracle._retry_queue if t not in ended]

    def holder(self, trial_id: str) -> str | None:
        for worker, trial in self.oracle.ongoing_trials.items():
            if trial.trial_id == trial_id:
                return worker
        return None

    def expire(self, asking: str | None = None) -> list[str]:
        """Send the trials of workers silent for longer than the lease back to the retry queue."""
        now = self.clock()
        freed = []
        for worker, trial in list(self.oracle.ongoing_trials.items()):
            if worker == asking:
                continue
            silent = now - self.last.setdefault(worker, now)
            if silent <= self.seconds:
                continue
            del self.oracle.ongoing_trials[worker]
            self.oracle.tuner_ids.discard(worker)
            if trial.trial_id not in self.oracle._retry_queue:
                self.oracle._retry_queue.append(trial.trial_id)
            self.handed.pop(trial.trial_id, None)
            self.reassigned.append({"trial": trial.trial_id, "from": worker, "silent_seconds": round(silent, 1)})
            freed.append(trial.trial_id)
            self.log(
                f"{worker} silent for {silent:.0f}s (tuner.lease_seconds {self.seconds:g}): "
                f"trial {trial.trial_id} goes to the next worker that asks"
            )
        if freed:
            self.oracle.save()
        return freed

    def create_trial(self, worker: str) -> Any:
        """Keras Tuner's create_trial, after freeing expired leases; STOPPED only once all is done."""
        from keras_tuner.src.engine.trial import TrialStatus

        self.touch(worker)
        self.expire(asking=worker)
        requeued = {r["trial"] for r in self.reassigned}
        trial = self.oracle.create_trial(worker)
        if trial.status == TrialStatus.RUNNING:
            previous = self.handed.get(trial.trial_id)
            if previous is None or previous[0] != worker:
                self.handed[trial.trial_id] = (worker, self.clock())
                if trial.trial_id in requeued:
                    self.log(f"trial {trial.trial_id} handed to {worker}")
        elif trial.status == TrialStatus.STOPPED:
            if self.oracle.ongoing_trials or self.oracle._retry_queue:
                # Others still run trials and may die: keep this worker to take them over.
                self.oracle.tuner_ids.add(worker)
                trial.status = TrialStatus.IDLE
            else:
                self.stopped = True
        return trial

    def may_report(self, worker: str | None, trial_id: str) -> bool:
        """Whether `worker` may report on `trial_id`: the first completion wins, stale holders lose."""
        oracle = self.oracle
        if trial_id not in oracle.trials:
            raise Refused(f"trial {trial_id!r} is not a trial of this search")
        if trial_id in oracle.end_order:
            holder = self.holder(trial_id)
            if holder is not None:  # recorded, yet still listed as handed out: let it go
                del oracle.ongoing_trials[holder]
            return False
        holder = self.holder(trial_id)
        if holder is not None:
            return worker is None or holder == worker  # an anonymous (stock) client: trust it
        if worker and trial_id in oracle._retry_queue and worker not in oracle.ongoing_trials:
            # Presumed dead, but back before anyone took its trial over: it keeps the trial.
            oracle._retry_queue.remove(trial_id)
            oracle.ongoing_trials[worker] = oracle.trials[trial_id]
            oracle.tuner_ids.add(worker)
            self.handed.setdefault(trial_id, (worker, self.clock()))
            oracle.save()
            self.log(f"{worker} is back: trial {trial_id} stays with it")
            return True
        return False

    def update_trial(self, worker: str | None, trial_id: str, metrics: Any, step: float = 0) -> Any:
        self.touch(worker)
        if not self.may_report(worker, trial_id):
            return self.oracle.get_trial(trial_id)
        return self.oracle.update_trial(trial_id, metrics, step=step)

    def end_trial(self, worker: str | None, trial: Any) -> float | None:
        """Record a finished trial; returns its seconds, or None when the report was ignored."""
        self.touch(worker)
        if not self.may_report(worker, trial.trial_id):
            holder = self.holder(trial.trial_id)
            why = f"it went to {holder}" if holder else "it is already recorded"
            self.log(f"ignored the late result of trial {trial.trial_id} from {worker}: {why}")
            return None
        self.oracle.end_trial(trial)
        self.oracle.save()  # again: Keras Tuner saved before it took the trial off the ongoing list
        _, started = self.handed.pop(trial.trial_id, (None, self.clock()))
        return self.clock() - started

    def heartbeat(self, worker: str, trial_id: str) -> bool:
        self.touch(worker)
        return self.may_report(worker, trial_id)

    def done(self) -> bool:
        """Every trial the search will have is recorded (no trial running or waiting for a retry)."""
        o = self.oracle
        if o.ongoing_trials or o._retry_queue:
            return False
        return self.stopped or bool(o.max_trials and len(o.trials) >= o.max_trials)

    def finished(self) -> bool:
        """Done, and every worker still alive has been told to stop (dead ones age out)."""
        if not self.done():
            return False
        now = self.clock()
        return not [w for w in self.oracle.tuner_ids if now - self.last.get(w, float("-inf")) <= self.seconds]


class _Servicer:
    """Keras Tuner's OracleServicer methods (duck-typed for its gRPC registration), with leases."""

    def __init__(self, lease: Lease, tuner: Any, on_trial: Callable | None, hello: dict, deadline: Callable | None):
        from keras_tuner.src import protos

        self.lease = lease
        self.oracle = lease.oracle
        self.tuner = tuner
        self.on_trial = on_trial
        self.hello = hello
        self.deadline = deadline
        self.svc = protos.get_service()
        self.lock = threading.Lock()
        self.error: BaseException | None = None

    def _guarded(self, fn: Callable, request: Any, context: Any) -> Any:
        import grpc

        worker = dict(context.invocation_metadata() or ()).get(METADATA_KEY)
        try:
            with self.lock:
                return fn(worker, request)
        except Refused as e:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(e))
        except Exception as e:  # noqa: BLE001 - the chief stops with it; the worker hears why
            if self.error is None:
                self.error = e
            context.abort(grpc.StatusCode.INTERNAL, f"{type(e).__name__}: {e}")

    def GetSpace(self, request, context):  # noqa: N802 - gRPC names
        def run(worker, request):
            self.lease.touch(worker)
            return self.svc.GetSpaceResponse(hyperparameters=self.oracle.get_space().to_proto())

        return self._guarded(run, request, context)

    def UpdateSpace(self, request, context):  # noqa: N802
        from keras_tuner.src.engine import hyperparameters as hp_module

        def run(worker, request):
            self.lease.touch(worker)
            self.oracle.update_space(hp_module.HyperParameters.from_proto(request.hyperparameters))
            return self.svc.UpdateSpaceResponse()

        return self._guarded(run, request, context)

    def CreateTrial(self, request, context):  # noqa: N802
        def run(worker, request):
            if self.deadline is not None:  # the time budget runs from the first trial asked for
                self.tuner.deadline, self.deadline = self.deadline(), None
            self.tuner.pre_create_trial()  # stops handing out new trials once the budget is spent
            trial = self.lease.create_trial(request.tuner_id)
            return self.svc.CreateTrialResponse(trial=trial.to_proto())

        return self._guarded(run, request, context)

    def UpdateTrial(self, request, context):  # noqa: N802
        def run(worker, request):
            trial = self.lease.update_trial(worker, request.trial_id, request.metrics, step=request.step)
            return self.svc.UpdateTrialResponse(trial=trial.to_proto())

        return self._guarded(run, request, context)

    def EndTrial(self, request, context):  # noqa: N802
        from keras_tuner.src.engine import trial as trial_module

        def run(worker, request):
            trial = trial_module.Trial.from_proto(request.trial)
            seconds = self.lease.end_trial(worker, trial)
            if seconds is not None and self.on_trial is not None:
                self.on_trial(self.oracle.get_trial(trial.trial_id), seconds)
            return self.svc.EndTrialResponse()

        return self._guarded(run, request, context)

    def GetTrial(self, request, context):  # noqa: N802
        def run(worker, request):
            self.lease.touch(worker)
            if request.trial_id not in self.oracle.trials:
                raise Refused(f"trial {request.trial_id!r} is not a trial of this search")
            return self.svc.GetTrialResponse(trial=self.oracle.get_trial(request.trial_id).to_proto())

        return self._guarded(run, request, context)

    def GetBestTrials(self, request, context):  # noqa: N802
        def run(worker, request):
            self.lease.touch(worker)
            trials = self.oracle.get_best_trials(request.num_trials)
            return self.svc.GetBestTrialsResponse(trials=[t.to_proto() for t in trials])

        return self._guarded(run, request, context)

    # autoorder.Lease: JSON in, JSON out.
    def Hello(self, request, context):  # noqa: N802
        return self._guarded(lambda worker, r: (self.lease.touch(worker), self.hello)[1], request, context)

    def Heartbeat(self, request, context):  # noqa: N802
        def run(worker, request):
            return {"holder": self.lease.heartbeat(worker or request.get("worker"), request["trial"])}

        return self._guarded(run, request, context)

    def finished(self) -> bool:
        with self.lock:
            return self.lease.finished()


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def _loads(data: bytes) -> Any:
    return json.loads(data.decode())


def serve(
    tuner: Any,
    role: Role,
    lease_seconds: float,
    on_trial: Callable | None,
    hello: dict,
    log: Log,
    deadline: Callable[[], float | None] | None = None,
) -> dict:
    """Serve `tuner.oracle` to the workers until the search is done. Returns what happened.

    `deadline()` gives the end of the time budget; it is asked when the first worker asks for a
    trial, since workers start later than the chief.
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos

    oracle = tuner.oracle
    oracle.verbose = 0  # Keras Tuner's own display prints; progress lines come from `on_trial`
    tuner.save()
    lease = Lease(oracle, lease_seconds, log=log)
    lease.tidy()
    servicer = _Servicer(lease, tuner, on_trial, hello, deadline)
    # so_reuseport off: a second chief on the same port must fail, not share it.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), options=[("grpc.so_reuseport", 0)])
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(getattr(servicer, name), request_deserializer=_loads, response_serializer=_dumps)
        for name in ("Hello", "Heartbeat")
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(LEASE_SERVICE, handlers),))
    try:
        port = server.add_insecure_port(role.address)
    except RuntimeError:
        port = 0
    if not port:
        raise RunError(
            f"The chief cannot listen on {role.address}: the port is in use or the host is not an address "
            "of this machine. Choose another --oracle HOST:PORT."
        )
    server.start()
    log(
        f"chief: serving the search on {role.address} (lease {lease_seconds:g}s); "
        f"workers join with --role worker --oracle {role.address} --worker-id ID"
    )
    try:
        while not servicer.finished():
            time.sleep(0.2)
            if servicer.error is not None:
                raise servicer.error
    finally:
        server.stop(grace=2).wait(5)
    return {"workers": sorted(lease.last), "reassigned": lease.reassigned}


# ----- worker: a client with deadlines, a heartbeat ----------------------------------------
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
        import grpc

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
        self._hello = self.channel.unary_unary(f"/{LEASE_SERVICE}/Hello", request_serializer=_dumps, response_deserializer=_loads)
        self._beat = self.channel.unary_unary(f"/{LEASE_SERVICE}/Heartbeat", request_serializer=_dumps, response_deserializer=_loads)
        self._inner: Any = None

    def call(self, name: str, method: Callable, request: Any) -> Any:
        import grpc

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
        from keras_tuner.src import protos
        from keras_tuner.src.distribute.oracle_client import OracleClient

        oracle = getattr(oracle, "_oracle", oracle)  # already wrapped by Keras Tuner (KERASTUNER_* set)
        # OracleClient.__init__ reads KERASTUNER_* variables; here the role comes from the command line.
        inner = OracleClient.__new__(OracleClient)
        inner._oracle = oracle
        inner.stub = _DeadlineStub(self, protos.get_service_grpc().OracleStub(self.channel))
        inner.tuner_id = self.worker_id
        inner.multi_worker = False
        inner.should_report = True
        self._inner = inner
        return self

    def __getattr__(self, name: str) -> Any:
        if name == "_inner" or self._inner is None:
            raise AttributeError(name)
        return getattr(self._inner, name)

    def create_trial(self, tuner_id: str) -> Any:
        from keras_tuner.src.engine.trial import TrialStatus

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


# ----- launcher (no TensorFlow in this process) -----------------------------------------------
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
        import ctypes

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
    from autoorder.config import load_config, resolved_dict
    from autoorder.fileio import folder_lock
    from autoorder.search import prepare_run_dir

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
