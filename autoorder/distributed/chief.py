"""The chief of a distributed search: serves Keras Tuner's oracle with leases, then writes the results.

The chief trains nothing. It prepares the run folder and the space like a single-process search
(`autoorder.run.stages`), serves the oracle to the workers over gRPC until every trial is
recorded, then exports the best model and writes the same files as a single-process search
(`results.json` adds `distributed`).
"""

from __future__ import annotations

import threading
import time
from concurrent import futures
from pathlib import Path
from typing import Any, Callable

import grpc
import keras_tuner as kt
from keras_tuner.engine.trial import Trial

from autoorder.compat.keras_tuner import service, service_grpc
from autoorder.core.config import Config
from autoorder.core.errors import RunError
from autoorder.core.fileio import folder_lock
from autoorder.distributed.lease import Lease, Refused
from autoorder.distributed.roles import Role, search_signature
from autoorder.distributed.wire import LEASE_SERVICE, METADATA_KEY, dumps, loads
from autoorder.run import stages
from autoorder.schema.results import RunResults

Log = Callable[[str], None]


def run_chief(cfg: Config, out: str | Path, role: Role, *, overwrite: bool = False, log: Log | None = None) -> RunResults:
    """Prepare the run, serve the search to the workers until it is done, then finish it."""
    out = Path(out)
    log = log or (lambda line: None)
    with folder_lock(out, "run"):
        run = stages.prepare(cfg, out, overwrite, log)
        tuner = stages.make_tuner(run)
        hello = {"config": search_signature(cfg), "data": run.data.fingerprint()}
        budget = cfg.tuner.time_budget
        deadline = (lambda: run.progress.deadline(budget)) if budget else None
        distributed = serve(tuner, role, cfg.tuner.lease_seconds, run.progress, hello, log, deadline)
        if tuner.stop_reason:
            log(f"stopped: tuner.time_budget of {budget:g}s is spent ({len(tuner.oracle.trials)} trials)")
        return stages.finish(run, tuner, distributed)


class _Servicer:
    """Keras Tuner's OracleServicer methods (duck-typed for its gRPC registration), with leases."""

    def __init__(self, lease: Lease, tuner: Any, on_trial: Callable | None, hello: dict, deadline: Callable | None):
        self.lease = lease
        self.oracle = lease.oracle
        self.tuner = tuner
        self.on_trial = on_trial
        self.hello = hello
        self.deadline = deadline
        self.svc = service()
        self.lock = threading.Lock()
        self.error: BaseException | None = None

    def _guarded(self, fn: Callable, request: Any, context: Any) -> Any:
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
        def run(worker, request):
            self.lease.touch(worker)
            self.oracle.update_space(kt.HyperParameters.from_proto(request.hyperparameters))
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
        def run(worker, request):
            trial = Trial.from_proto(request.trial)
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
    oracle = tuner.oracle
    oracle.verbose = 0  # Keras Tuner's own display prints; progress lines come from `on_trial`
    tuner.save()
    lease = Lease(oracle, lease_seconds, log=log)
    lease.tidy()
    servicer = _Servicer(lease, tuner, on_trial, hello, deadline)
    # so_reuseport off: a second chief on the same port must fail, not share it.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), options=[("grpc.so_reuseport", 0)])
    service_grpc().add_OracleServicer_to_server(servicer, server)
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(getattr(servicer, name), request_deserializer=loads, response_serializer=dumps)
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
