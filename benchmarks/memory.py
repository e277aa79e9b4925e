"""Memory and cores of this machine and process: psutil (the bench extra) where installed, else the OS.

`seje-bench latency` runs in a plain `seje[cpu]` install too, so psutil is optional: on Linux
/proc gives the same numbers; elsewhere peak RSS stands in for RSS and the note says so.
"""
from __future__ import annotations

import os
from functools import cache
from typing import Any, Callable


@cache
def _psutil() -> Any:
    try:
        import psutil
    except ImportError:
        return None
    return psutil


def _proc_rss() -> int:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def rss_reader() -> Callable[[], int]:
    """A cheap callable giving this process's resident set size in bytes."""
    psutil = _psutil()
    if psutil is not None:
        proc = psutil.Process()
        return lambda: proc.memory_info().rss
    try:
        _proc_rss()
        return _proc_rss
    except (OSError, ValueError, AttributeError):
        return _peak_rss


def machine_memory() -> dict[str, Any]:
    """Total and available RAM in GiB, and physical/logical core counts (None where unknown)."""
    psutil = _psutil()
    if psutil is not None:
        mem = psutil.virtual_memory()
        return {"ram_total_gib": round(mem.total / 2**30, 1), "ram_available_gib": round(mem.available / 2**30, 1),
                "cpu_physical_cores": psutil.cpu_count(logical=False), "cpu_logical_cores": psutil.cpu_count(logical=True)}
    info = {}
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f if line.split()[1].isdigit()}
    except (OSError, IndexError, ValueError):
        pass
    total = info.get("MemTotal")
    available = info.get("MemAvailable")
    return {"ram_total_gib": round(total / 2**30, 1) if total else None,
            "ram_available_gib": round(available / 2**30, 1) if available else None,
            "cpu_physical_cores": None, "cpu_logical_cores": os.cpu_count(),
            "memory_note": "psutil not installed (pip install 'seje[bench]'): memory read from /proc"}
