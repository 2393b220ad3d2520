"""Benchmark: training beside one busy process, against the same training on a quiet machine.

On a shared machine another process often holds a core. This runs a short `seqkit run`
(the defaults, 2 epochs) for the torch path (`--cell gru --collator pack`) and the fused
path (`--cell fused-gru --collator fused-pack`), each once quiet and once beside one
CPU-bound process (a Python busy loop), in interleaved rounds, and prints the median
training seconds and the ratio busy / quiet per path (the goal: at most 2x; a fair share
of 2 cores with one taken would be about 1.5x).

    python benchmarks/bench_load.py [--rounds 3] [--epochs 2] [--data DIR] [--json PATH]
        [--env KEY=VALUE ...] [--run-args '--threads 2']   # to compare settings
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from _common import DEFAULT_DATA, print_table, write_json

PATHS = {"torch": ["--cell", "gru", "--collator", "pack"], "fused": ["--cell", "fused-gru", "--collator", "fused-pack"]}
BUSY = "import time\nt = time.time()\nwhile time.time() - t < 3600:\n    pass\n"


def train_seconds(data: str, path: str, epochs: int, env: dict, extra: list[str]) -> float:
    with tempfile.TemporaryDirectory() as out:
        proc = subprocess.run([sys.executable, "-m", "seqkit", "run", "--data", data, "--epochs", str(epochs),
                               "--out", out, "--json", "--quiet", *PATHS[path], *extra], capture_output=True,
                              text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"seqkit run failed: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout)["train_seconds"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--data", default=os.environ.get("SEQKIT_DATA") or str(DEFAULT_DATA))
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra environment of the runs")
    ap.add_argument("--run-args", default="", help="extra seqkit run arguments, e.g. '--threads 2'")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    env = dict(os.environ, **dict(kv.split("=", 1) for kv in args.env))
    times = {(p, c): [] for p in PATHS for c in ("quiet", "busy")}
    for _ in range(args.rounds):
        for path in PATHS:
            times[(path, "quiet")].append(train_seconds(args.data, path, args.epochs, env, args.run_args.split()))
            busy = subprocess.Popen([sys.executable, "-c", BUSY])
            try:
                time.sleep(0.5)
                times[(path, "busy")].append(train_seconds(args.data, path, args.epochs, env, args.run_args.split()))
            finally:
                busy.kill()
                busy.wait()
    rows = []
    for path in PATHS:
        quiet, busy = statistics.median(times[(path, "quiet")]), statistics.median(times[(path, "busy")])
        ratios = [b / q for q, b in zip(times[(path, "quiet")], times[(path, "busy")])]
        rows.append({"path": path, "quiet s": f"{quiet:.2f}", "beside a busy process s": f"{busy:.2f}",
                     "ratio (median of rounds)": f"{statistics.median(ratios):.2f}x",
                     "rounds": ", ".join(f"{r:.2f}" for r in ratios)})
    print(f"{args.rounds} rounds, {args.epochs} epochs of seqkit run's defaults, {os.cpu_count()} cores, "
          f"extra env: {' '.join(args.env) or 'none'}, extra arguments: {args.run_args or 'none'}")
    print_table(rows, ["path", "quiet s", "beside a busy process s", "ratio (median of rounds)", "rounds"])
    write_json(args.json, {"rounds": args.rounds, "epochs": args.epochs, "env": args.env, "run_args": args.run_args,
                           "seconds": {f"{p}/{c}": v for (p, c), v in times.items()}, "rows": rows})


if __name__ == "__main__":
    main()
