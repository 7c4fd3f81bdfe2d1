"""autoorder: AutoML search for photo-set classifiers that use the upload order of each photo.

The Python API (`search`, `load_run`, `benchmark`) is loaded on first use, so `import autoorder`
and `autoorder --help` stay fast (no TensorFlow until a search needs it).
"""

from typing import Any

from autoorder.core.errors import AutoOrderError
from autoorder.core.version import __version__

__all__ = ["AutoOrderError", "__version__", "benchmark", "load_run", "search"]

_API = ("search", "load_run", "benchmark", "Run")


def __getattr__(name: str) -> Any:
    if name in _API:
        from autoorder import api  # lazy: the API imports TensorFlow

        return getattr(api, name)
    raise AttributeError(f"module 'autoorder' has no attribute {name!r}")
