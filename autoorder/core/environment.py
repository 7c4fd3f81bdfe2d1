"""What a result was made with: library versions and the machine, for results and benchmarks."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform

from autoorder.core.version import __version__

PACKAGES = ("tensorflow", "keras", "keras-tuner", "scikit-learn", "numpy", "pillow")


def versions() -> dict:
    """Versions of autoorder, its main libraries (None when not installed) and Python."""
    out: dict = {"autoorder": __version__}
    for pkg in PACKAGES:
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    out["python"] = platform.python_version()
    return out


def machine() -> dict:
    return {"platform": platform.platform(), "processor": platform.machine(), "cpus": os.cpu_count()}
