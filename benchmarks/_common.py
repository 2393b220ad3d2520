"""Shared helpers of the kernel benchmarks: the name2lang data, timing, table and JSON."""
from __future__ import annotations

import json
import os
import platform
import random
import statistics
import string
import time
import unicodedata
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "names"
ALL_LETTERS = string.ascii_letters + " .,;'"


def unicode_to_ascii(s: str) -> str:
    """The course's unicodeToAscii: strip accents, keep only ALL_LETTERS."""
    return "".join(c for c in unicodedata.normalize("NFD", s)
                   if unicodedata.category(c) != "Mn" and c in ALL_LETTERS)


def load_names(data_dir, *, ascii_fold=True, seed=0):
    """All surnames of name2lang (one file per language), shuffled with ``seed``."""
    data_dir = Path(data_dir)
    files = sorted(data_dir.glob("*.txt"))
    if not files:
        raise SystemExit(f"no *.txt under {data_dir}; pass --data DIR (the name2lang names/ folder)")
    names = []
    for f in files:
        for line in f.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if ascii_fold:
                line = unicode_to_ascii(line)
            if line:
                names.append(line)
    random.Random(seed).shuffle(names)
    return names


def median_time(fn, repeats, warmup=1):
    """Median wall time of ``fn()`` over ``repeats`` runs, in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def machine():
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from seqkit import ops

    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__,
            "seqkit_backend": ops.backend(), "threads": torch.get_num_threads()}


def print_table(rows, columns):
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(w) for c, w in zip(columns, widths)))


def write_json(path, payload):
    if path:
        Path(path).write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {path}")
