"""What chief and workers share on the wire: service and metadata names, and JSON messages.

Workers name themselves in gRPC metadata (`autoorder-worker`); the chief serves a small
`autoorder.Lease` service (Hello, Heartbeat: JSON in, JSON out) beside Keras Tuner's own.
"""

from __future__ import annotations

import json
from typing import Any

METADATA_KEY = "autoorder-worker"
LEASE_SERVICE = "autoorder.Lease"


def dumps(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def loads(data: bytes) -> Any:
    return json.loads(data.decode())
