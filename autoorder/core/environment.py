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


def _read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as f:
            text = f.read().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def available_memory() -> int | None:
    """Bytes this process can still allocate: the machine's MemAvailable, lowered by a cgroup limit
    (containers, schedulers). None where neither is known."""
    candidates = []
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    candidates.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),  # cgroup v2
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),  # v1
    ):
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and usage is not None and limit < 2**60:
            candidates.append(max(limit - usage, 0))
    return min(candidates) if candidates else None
