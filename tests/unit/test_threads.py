"""The default thread count follows the cores this process may use and what other processes
keep busy (seqkit.engine.threads): real processes, real affinity."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from seqkit.engine.threads import allowed_cpus, busy_cores, default_threads


def test_a_busy_neighbour_takes_its_core_away():
    cpus = allowed_cpus()
    busy = subprocess.Popen([sys.executable, "-c", "while True:\n    pass"])
    try:
        time.sleep(0.3)
        assert busy_cores(cpus, 0.3) >= 0.5
        assert default_threads() <= max(1, len(cpus) - 1)
    finally:
        busy.kill()
        busy.wait()


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs os.sched_setaffinity (Linux)")
def test_the_default_follows_the_affinity_mask():
    code = ("import os\nos.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})\n"
            "from seqkit.engine.threads import default_threads, allowed_cpus\n"
            "print(len(allowed_cpus()), default_threads())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout.split()
    assert out == ["1", "1"]
