"""Who this process is in a distributed search: the chief (serves the oracle) or a worker.

From `--role/--oracle/--worker-id`, or from Keras Tuner's own KERASTUNER_* variables. Light on
purpose: the launcher reads roles without importing TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from typing import Any

from autoorder.core import config as C

WORKER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
KERASTUNER_VARS = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
LOOPBACK = "127.0.0.1"


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
    d = C.without_operational(C.to_dict(cfg))
    d["data"].pop("manifest", None)  # each host has its own path to the same data
    d.pop("plugins", None)
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]
