"""How many threads a run computes with when ``--threads`` is not given.

torch's default is the machine's physical cores. On a shared machine that is too many:
with another process holding a core, the run's threads take turns with it, and every
fork/join of a parallel op waits for the thread that lost its turn, so the whole run
slows far beyond the fair share of the cores left. The default here is the cores this
process may run on (``os.sched_getaffinity``: a container's or ``taskset``'s limit), less
those other processes keep busy right now (sampled from ``/proc/stat`` over a tenth of a
second), at least one. On a quiet machine that is every core, as torch's default.
"""
from __future__ import annotations

import os
import time

#: how long the load of the other processes is sampled, in seconds
SAMPLE_SECONDS = 0.1


def allowed_cpus() -> set[int]:
    """The CPUs this process may run on."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return set(range(os.cpu_count() or 1))


def _cpu_times(cpus: set[int]) -> tuple[int, int] | None:
    """``(busy, total)`` jiffies of ``cpus`` since boot, from /proc/stat (None elsewhere)."""
    busy = total = 0
    try:
        with open("/proc/stat") as f:
            for line in f:
                name, *values = line.split()
                if not (name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus):
                    continue
                fields = [int(v) for v in values]
                idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
                busy, total = busy + sum(fields) - idle, total + sum(fields)
    except (OSError, ValueError):
        return None
    return (busy, total) if total else None


def _own_jiffies() -> int:
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    t = os.times()
    return int((t.user + t.system) * ticks)


def busy_cores(cpus: set[int], seconds: float = SAMPLE_SECONDS) -> float:
    """How many of ``cpus`` other processes keep busy, averaged over ``seconds`` (0 where unknown)."""
    first, own = _cpu_times(cpus), _own_jiffies()
    if first is None:
        return 0.0
    time.sleep(seconds)
    second = _cpu_times(cpus)
    if second is None or second[1] <= first[1]:
        return 0.0
    busy = (second[0] - first[0]) - (_own_jiffies() - own)
    return max(0.0, busy / (second[1] - first[1]) * len(cpus))


def default_threads() -> int:
    """The cores this process may use, less those other processes keep busy, at least 1."""
    cpus = allowed_cpus()
    return max(1, min(len(cpus), round(len(cpus) - busy_cores(cpus))))
