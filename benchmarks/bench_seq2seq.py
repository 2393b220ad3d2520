"""Grapheme-to-phoneme on CMUdict: ``seqkit run --task seq2seq`` with its defaults against
the 0.1 seq2seq recipe, side by side in one run.

Rows, each a real ``seqkit run`` subprocess on the same split (10% of the distinct words,
split seed 0), one after the other:

1. ``0.1 recipe``: the seq2seq defaults of seqkit 0.1 spelled out as flags (``OLD_RECIPE``
   below: bidirectional GRU 128 encoder, GRU 256 decoder with Luong attention over its
   outputs, 22 epochs, lr 0.0015, beam 5, fused kernels in bf16);
2. ``defaults``: ``seqkit run --task seq2seq`` with no other flag;
3. any ``--extra NAME="FLAGS"`` row (for recipes being tried).

Each row reports WER and PER (first pronunciation, and against any pronunciation: the usual
way CMUdict results are scored), exact match, the greedy WER beside the beam's, the
training seconds (metrics.json's ``train_seconds``: the epochs only) and the evaluation
seconds (the final evaluation: greedy and beam decoding of the test words; and all the
per-epoch evaluations together). The ratio printed last is row 1's training time over row
2's. ``--threads`` fixes the thread count (2 is the reference machine's cores); ``--epochs``
scales every row for a quick look (the ratio then no longer compares the real recipes).
Example::

    python benchmarks/bench_seq2seq.py --json benchmarks/results/g2p_bench.json
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, print_table, write_json  # noqa: E402

#: seqkit 0.1's seq2seq defaults, spelled out
OLD_RECIPE = ("--task seq2seq --dataset cmudict --cell fused-gru --collator fused-pack --encoder index "
              "--precision auto --embedding-dim 64 --hidden-size 128 --layers 1 --bidirectional --dropout 0 "
              "--input-dropout 0 --head-dropout 0 --label-smoothing 0.1 --optimizer adamw --lr 0.0015 "
              "--weight-decay 0.01 --schedule onecycle --clip 1.0 --epochs 22 --batch-size 128 --test-size 0.1 "
              "--beam 5 --teacher-forcing 1.0 --attention --feed none -o task.decoder_hidden=256").split()

COLUMNS = ["row", "WER", "WER any", "PER", "PER any", "exact", "greedy WER", "train s", "final eval s",
           "all evals s", "epochs", "params"]


def run(flags: list[str], args: argparse.Namespace, name: str) -> dict:
    """One ``seqkit run``; the figures of its metrics.json."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.keep, name.replace(" ", "_")) if args.keep else Path(tmp, "run")
        cmd = [sys.executable, "-m", "seqkit", "run", *flags, "--threads", str(args.threads), "--out", str(out),
               "--overwrite", "--quiet"]
        if args.epochs is not None:
            cmd += ["--epochs", str(args.epochs)]
        if args.data is not None:
            cmd += ["--data", args.data]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"bench_seq2seq: {shlex.join(cmd)} failed ({proc.returncode}): "
                             f"{proc.stderr.strip()[-800:]}")
        m = json.loads((out / "metrics.json").read_text())
    keys = ("wer", "wer_any", "per", "per_any", "exact_match", "exact_match_any", "greedy_wer", "train_seconds",
            "eval_seconds", "eval_seconds_total", "epochs", "parameters", "precision", "tokens_per_second")
    return {"command": shlex.join(["seqkit", "run", *flags]), **{k: m.get(k) for k in keys},
            "path": m.get("path"), "task_options": m.get("config", {}).get("task_options")}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=None, help="override every row's epochs (a quick look only)")
    ap.add_argument("--data", default=None, help="another CMUdict-format file for every row (a quick look only)")
    ap.add_argument("--extra", action="append", default=[], metavar='NAME="FLAGS"',
                    help="another row: seqkit run --task seq2seq FLAGS")
    ap.add_argument("--only", nargs="+", default=None, help="run only these rows (names)")
    ap.add_argument("--keep", default=None, help="keep each row's run directory under this folder")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args(argv)

    rows = {"0.1 recipe": OLD_RECIPE, "defaults": ["--task", "seq2seq"]}
    for spec in args.extra:
        name, sep, flags = spec.partition("=")
        if not sep or not name.strip():
            ap.error(f"--extra {spec!r}: expected NAME=\"FLAGS\"")
        rows[name.strip()] = ["--task", "seq2seq", *shlex.split(flags)]
    if args.only:
        unknown = sorted(set(args.only) - set(rows))
        if unknown:
            ap.error(f"--only: no row named {', '.join(unknown)} (rows: {', '.join(rows)})")
        rows = {k: v for k, v in rows.items() if k in args.only}
    results = {}
    for name, flags in rows.items():
        results[name] = r = run(flags, args, name)
        print(f"{name}: wer {r['wer']:.4f} wer_any {r['wer_any']:.4f} in {r['train_seconds']:.0f} s", flush=True)

    def pct(x):
        return "" if x is None else f"{x:.2%}"
    table = [{"row": n, "WER": pct(r["wer"]), "WER any": pct(r["wer_any"]), "PER": pct(r["per"]),
              "PER any": pct(r["per_any"]), "exact": pct(r["exact_match"]), "greedy WER": pct(r["greedy_wer"]),
              "train s": f"{r['train_seconds']:.0f}", "final eval s": f"{r['eval_seconds'] or 0:.0f}",
              "all evals s": f"{r['eval_seconds_total'] or 0:.0f}", "epochs": r["epochs"],
              "params": f"{r['parameters']:,}"} for n, r in results.items()]
    print(f"\nCMUdict G2P (test: 10% of the distinct words, split seed 0), {args.threads} threads")
    print_table(table, COLUMNS)
    ratio = None
    if "0.1 recipe" in results and "defaults" in results:
        ratio = results["0.1 recipe"]["train_seconds"] / results["defaults"]["train_seconds"]
        print(f"training time, 0.1 recipe / defaults: {ratio:.2f}x")
    write_json(args.json, {"benchmark": "seq2seq", "machine": machine(), "args": vars(args), "old_recipe": OLD_RECIPE,
                           "results": results, "time_ratio": ratio})


if __name__ == "__main__":
    main()
