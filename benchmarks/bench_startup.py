"""Benchmark: how long the ``seqkit`` command takes to answer, against ``import click``.

Side by side in one run, rounds interleaved (each round runs every command once, in
turn), wall time of a fresh process each time: ``python -c "import click"`` (the floor a
click CLI cannot beat), ``seqkit --help``, ``seqkit run --help``, ``seqkit --version`` and
``seqkit plugins`` (which also loads the compiled ops to report their backend). Prints the
medians, the ratio of each to ``import click`` and whether torch was imported.

    python benchmarks/bench_startup.py [--rounds 10] [--json benchmarks/results/startup.json]
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

from _common import print_table, write_json

PY = sys.executable
COMMANDS = {
    "python -c 'import click'": [PY, "-c", "import click"],
    "seqkit --help": ["--help"],
    "seqkit run --help": ["run", "--help"],
    "seqkit --version": ["--version"],
    "seqkit plugins": ["plugins"],
}
#: prints whether the command imported torch (runs the CLI in-process, once per command)
PROBE = ("import sys, seqkit.cli\nsys.argv = ['seqkit'] + sys.argv[1:]\ntry:\n    seqkit.cli.main(sys.argv[1:])\n"
         "except SystemExit:\n    pass\nprint('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)")


def argv(name: str) -> list[str]:
    cmd = COMMANDS[name]
    if cmd[0] == PY:
        return cmd
    exe = shutil.which("seqkit")
    return [exe, *cmd] if exe else [PY, "-m", "seqkit", *cmd]


def imports_torch(name: str) -> str:
    if COMMANDS[name][0] == PY:
        return ""
    proc = subprocess.run([PY, "-c", PROBE, *COMMANDS[name]], capture_output=True, text=True)
    return "yes" if "TORCH" in proc.stderr.split()[-1:] else "no"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args()
    times = {name: [] for name in COMMANDS}
    for name in COMMANDS:  # warm the file cache once
        subprocess.run(argv(name), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(args.rounds):
        for name in COMMANDS:
            t = time.perf_counter()
            subprocess.run(argv(name), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            times[name].append(time.perf_counter() - t)
    base = statistics.median(times["python -c 'import click'"])
    rows = []
    for name, ts in times.items():
        med = statistics.median(ts)
        rows.append({"command": name, "median s": f"{med:.3f}", "min s": f"{min(ts):.3f}",
                     "vs import click": f"{med / base:.1f}x", "imports torch": imports_torch(name)})
    print(f"{args.rounds} rounds, interleaved; {platform.processor() or platform.machine()}, {os.cpu_count()} cores,"
          f" Python {platform.python_version()}")
    print_table(rows, ["command", "median s", "min s", "vs import click", "imports torch"])
    write_json(args.json, {"rounds": args.rounds, "seconds": times, "rows": rows,
                           "python": platform.python_version(), "cores": os.cpu_count()})


if __name__ == "__main__":
    main()
