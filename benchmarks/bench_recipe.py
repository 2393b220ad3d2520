"""Time to accuracy: ``seqkit run`` with its defaults against the 0.2 default recipe on the
torch path, per seed, side by side in one run.

Rows, each trained once per seed (seeds alternate between the rows, so a slow spell of a
shared machine falls on all of them alike), each a real ``seqkit run`` subprocess:

1. ``0.1 recipe, torch``: the defaults of seqkit 0.1 spelled out as flags, on torch's
   nn.GRU and pack (``OLD_RECIPE`` below);
2. ``defaults``: ``seqkit run`` with no model or training flag at all;
3. ``defaults --dedup`` (unless ``--no-dedup``): the same on the de-duplicated split
   (no name in both train and test).

Every row reports per seed top-1, top-3, macro-F1 and the training seconds (metrics.json's
``train_seconds``: the epochs, without data loading and evaluation), then the means and the
median training time; the headline ratio is the median over seeds of the per-seed ratio of
row 1's training time to row 2's. ``--threads`` fixes the thread count of every run (2 is the
reference machine's cores). Example::

    python benchmarks/bench_recipe.py --data ../shared/data/names --seeds 0 1 2 3 4 --json results/recipe.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_DATA, machine, print_table, write_json  # noqa: E402

#: seqkit 0.1's defaults, spelled out (the torch path it trained on by default)
OLD_RECIPE = ("--cell gru --collator pack --encoder index --embedding-dim 64 --hidden-size 128 --layers 1 "
              "--bidirectional --dropout 0 --input-dropout 0.3 --head-dropout 0.3 --label-smoothing 0.1 "
              "--optimizer adamw --lr 0.003 --weight-decay 0.05 --schedule onecycle --clip 1.0 --epochs 12 "
              "--batch-size 64 --precision fp32").split()


def run(data: str, seed: int, threads: int, flags: list[str]) -> dict:
    """One ``seqkit run`` in a fresh directory; its metrics.json figures."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "seqkit", "run", "--data", data, "--seed", str(seed), "--threads", str(threads),
               "--out", out, "--quiet", *flags]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"bench_recipe: {' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
        m = json.loads(Path(out, "metrics.json").read_text())
    return {"seed": seed, "top1": m["top1"], "top3": m["top3"], "macro_f1": m["macro_f1"],
            "train_seconds": m["train_seconds"], "path": m.get("path")}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="name2lang names/ directory")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-dedup", dest="dedup", action="store_false", help="skip the --dedup row")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args(argv)

    rows = {"0.1 recipe, torch": OLD_RECIPE, "defaults": []}
    if args.dedup:
        rows["defaults --dedup"] = ["--dedup"]
    results = {name: [] for name in rows}
    for seed in args.seeds:
        for name, flags in rows.items():
            results[name].append(run(args.data, seed, args.threads, flags))
        print(f"seed {seed}: " + ", ".join(f"{n} {results[n][-1]['top1']:.4f} in {results[n][-1]['train_seconds']:.1f} s"
                                          for n in rows), flush=True)

    per_seed = [{"row": name, "seed": r["seed"], "top1": f"{r['top1']:.2%}", "top3": f"{r['top3']:.2%}",
                 "macro-F1": f"{r['macro_f1']:.3f}", "train s": f"{r['train_seconds']:.1f}"}
                for name, res in results.items() for r in res]
    print_table(per_seed, ["row", "seed", "top1", "top3", "macro-F1", "train s"])
    ratios = [o["train_seconds"] / d["train_seconds"] for o, d in zip(results["0.1 recipe, torch"], results["defaults"])]
    summary = []
    for name, res in results.items():
        summary.append({"row": name, "mean top1": f"{statistics.mean(r['top1'] for r in res):.2%}",
                        "min top1": f"{min(r['top1'] for r in res):.2%}",
                        "mean top3": f"{statistics.mean(r['top3'] for r in res):.2%}",
                        "mean macro-F1": f"{statistics.mean(r['macro_f1'] for r in res):.3f}",
                        "median train s": f"{statistics.median(r['train_seconds'] for r in res):.1f}"})
    print(f"\nname2lang, seeds {' '.join(map(str, args.seeds))}, {args.threads} threads (means over seeds)")
    print_table(summary, ["row", "mean top1", "min top1", "mean top3", "mean macro-F1", "median train s"])
    print(f"training time, 0.1 recipe on torch / defaults: {statistics.median(ratios):.2f}x "
          f"(per seed: {', '.join(f'{x:.2f}' for x in ratios)}); defaults path: {results['defaults'][0]['path']}")
    write_json(args.json, {"benchmark": "recipe", "machine": machine(), "args": vars(args), "old_recipe": OLD_RECIPE,
                           "results": results, "time_ratio": statistics.median(ratios), "time_ratios": ratios})


if __name__ == "__main__":
    main()
