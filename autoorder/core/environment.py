"""What a result was made with: library versions and the machine, for results and benchmarks."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
from pathlib import Path

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


# CPU features that change which kernels oneDNN (TensorFlow's CPU math) picks, hence the last
# digits of results: two machines that differ here can give slightly different scores.
CPU_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")


def _cpuinfo() -> tuple[str | None, list[str]]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None, []
    model, flags = None, []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model is None:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            present = set(value.split())
            flags = [f for f in CPU_FLAGS if f in present]
    return model, flags


def machine() -> dict:
    """What makes numbers differ between machines: platform, CPU model and features, oneDNN."""
    model, flags = _cpuinfo()
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    return {
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "cpu_flags": flags,
        "onednn": "default (on for x86 Linux builds)" if onednn is None else ("on" if onednn not in ("0", "false", "False") else "off"),
    }


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
