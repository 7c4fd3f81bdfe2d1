"""Distributed search on Keras Tuner's chief/worker engine: launching, leases, deadlines.

One concept per module: `roles` (who this process is), `lease` (who holds which trial),
`chief` (serves Keras Tuner's oracle with leases, then writes the results), `worker` (a client
with deadlines and a heartbeat, running the trials it is handed), `launch` (a chief and N
workers on this host), `wire` (the names and the JSON encoding both sides share).

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

`launch` and `roles` run in a process without TensorFlow (the launcher); `chief` and `worker`
import gRPC and Keras Tuner. `AUTOORDER_WORKER_ENV` (internal, for tests) is a JSON mapping
worker id -> extra environment variables for that worker only (e.g. a fault injection).
"""
