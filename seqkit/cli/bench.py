"""``seqkit bench``: run a benchmark script of a source checkout's ``benchmarks/``."""
from __future__ import annotations

import os
import sys

import click

from .params import CLIError

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "benchmarks")


@click.command("bench", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("which", type=click.Choice(["encode-pack", "gru", "train"]))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_command(which, args):
    """Run a benchmark of benchmarks/ (side by side, medians, ratios; --json PATH).

    WHICH: encode-pack (names/s), gru (fused GRU vs torch.nn.GRU), train (epochs).
    Extra ARGS go to the script, e.g. `seqkit bench train --epochs 3 --json out.json`.
    """
    import runpy

    script = os.path.join(BENCHMARKS, f"bench_{which.replace('-', '_')}.py")
    if not os.path.exists(script):
        raise CLIError(f"{script} not found: seqkit bench runs the benchmarks/ folder of a source checkout "
                       f"(pip install -e .)")
    sys.argv = [script, *args]
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (None, 0):
            raise CLIError(f"benchmark {which} failed: {exc.code}") from None
