"""``seqkit run --nproc N``: start N local training processes, as torchrun would.

Each process gets the environment torchrun gives its workers (``RANK``, ``LOCAL_RANK``,
``WORLD_SIZE``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT`` on a free local
port, ``OMP_NUM_THREADS`` = cores / N unless set) and runs ``python -m seqkit run`` with
the same arguments. If one process fails the others are stopped; the error lines the
processes print are shown once (every rank usually reports the same bad input), and the
launcher exits with the failing status. For several machines use torchrun itself, see
docs/distributed.md.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

ERROR_PREFIX = "seqkit: error:"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pump(stream, rank: int, errors: list[str], lock: threading.Lock) -> None:
    for line in iter(stream.readline, ""):
        if line.startswith(ERROR_PREFIX):
            with lock:
                if line not in errors:
                    errors.append(line)
            continue
        sys.stderr.write(line if rank == 0 else f"[rank {rank}] {line}")
        sys.stderr.flush()
    stream.close()


def launch_torchrun(nproc: int, args: list[str]) -> int:
    """Run ``seqkit <args>`` in ``nproc`` processes; returns the exit status."""
    port = free_port()
    threads = os.environ.get("OMP_NUM_THREADS") or str(max(1, (os.cpu_count() or 1) // nproc))
    procs, pumps, errors, lock = [], [], [], threading.Lock()
    for rank in range(nproc):
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(nproc),
                   LOCAL_WORLD_SIZE=str(nproc), GROUP_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                   OMP_NUM_THREADS=threads, TORCHELASTIC_RUN_ID="seqkit-nproc")
        proc = subprocess.Popen([sys.executable, "-m", "seqkit", *args], env=env, stderr=subprocess.PIPE,
                                stdout=None if rank == 0 else subprocess.DEVNULL, text=True)
        procs.append(proc)
        t = threading.Thread(target=_pump, args=(proc.stderr, rank, errors, lock), daemon=True)
        t.start()
        pumps.append(t)
    status = 0
    try:
        while True:
            codes = [p.poll() for p in procs]
            failed = [c for c in codes if c not in (None, 0)]
            if failed:
                status = failed[0]
                break
            if all(c == 0 for c in codes):
                break
            time.sleep(0.1)
    except KeyboardInterrupt:
        status = 130
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.time() + 10
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for t in pumps:
            t.join(timeout=5)
    for line in errors:
        sys.stderr.write(line)
    if status and not errors:
        sys.stderr.write(f"{ERROR_PREFIX} a training process exited with status {status} (see its output above)\n")
    return status if status >= 0 else 1
