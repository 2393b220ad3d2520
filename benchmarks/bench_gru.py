"""Benchmark: GRU forward + backward on packed name2lang batches, seqkit FusedGRU vs nn.GRU.

Side by side in one process, medians of repeated runs, same weights, same PackedSequence:

- batch: one batch of real names (default 256), forward and forward + backward (ms);
- epoch: forward + backward over the names of one training epoch (16,059 names, the
  course split's training size) in batches, seconds (no optimizer step; the recurrence
  is what the two implementations differ in).

Inputs: ``embed`` = 64-dim embedding rows (requires grad, like an nn.Embedding output),
``index`` = symbol indices (nn.GRU gets the equal one-hot rows, FusedGRU the indices).

    python benchmarks/bench_gru.py [--threads 1 2] [--hidden 128] [--json out.json]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ALL_LETTERS, DEFAULT_DATA, load_names, machine, median_time, print_table, write_json  # noqa: E402

from seqkit import ops  # noqa: E402
from seqkit.nn.fused_gru import FusedGRU  # noqa: E402

TRAIN_NAMES = 16059


def make_inputs(batch, kind, emb):
    p = ops.encode_pack(batch, ALL_LETTERS)
    if kind == "index":
        onehot = nn.functional.one_hot(p.data, len(ALL_LETTERS)).float()
        return (PackedSequence(onehot, p.batch_sizes, p.sorted_indices, p.unsorted_indices), p)
    x = emb(p.data).detach().requires_grad_()
    q = PackedSequence(x, p.batch_sizes, p.sorted_indices, p.unsorted_indices)
    return q, q


def fwd_bwd(model, packed):
    out, h = model(packed)
    loss = out.data.sum() + h.sum()
    loss.backward()


def fwd(model, packed):
    with torch.no_grad():
        model(packed)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--embed", type=int, default=64)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--bidirectional", action="store_true")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=21)
    ap.add_argument("--epoch-repeats", type=int, default=3, help="0 skips the epoch rows")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)

    torch.manual_seed(0)
    names = load_names(args.data)
    batch = names[: args.batch]
    epoch = names[:TRAIN_NAMES]
    epoch_batches = [epoch[i:i + args.batch] for i in range(0, len(epoch), args.batch)]
    emb = nn.Embedding(len(ALL_LETTERS), args.embed)
    results = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for kind in ("embed", "index"):
            size = args.embed if kind == "embed" else len(ALL_LETTERS)
            kw = dict(num_layers=args.layers, bidirectional=args.bidirectional)
            ref = nn.GRU(size, args.hidden, **kw)
            fused = FusedGRU(size, args.hidden, **kw)
            fused.load_state_dict(ref.state_dict())
            ref_in, fused_in = make_inputs(batch, kind, emb)
            # same numbers before timing anything
            out_r, h_r = ref(ref_in)
            out_f, h_f = fused(fused_in)
            err = max((out_r.data - out_f.data).abs().max().item(), (h_r - h_f).abs().max().item())
            assert err < 1e-4, f"FusedGRU and nn.GRU disagree by {err}"
            row = {"threads": threads, "input": kind, "max_abs_diff": err}
            for label, fn in (("fwd", fwd), ("fwd_bwd", fwd_bwd)):
                t_ref = median_time(lambda: fn(ref, ref_in), args.repeats, warmup=3)
                t_fused = median_time(lambda: fn(fused, fused_in), args.repeats, warmup=3)
                row[f"{label}_ms_nn_gru"] = 1e3 * t_ref
                row[f"{label}_ms_fused"] = 1e3 * t_fused
                row[f"{label}_speedup"] = t_ref / t_fused
            if args.epoch_repeats:
                ins = [make_inputs(b, kind, emb) for b in epoch_batches]
                t_ref = median_time(lambda: [fwd_bwd(ref, r) for r, _ in ins], args.epoch_repeats)
                t_fused = median_time(lambda: [fwd_bwd(fused, f) for _, f in ins], args.epoch_repeats)
                row.update(epoch_s_nn_gru=t_ref, epoch_s_fused=t_fused, epoch_speedup=t_ref / t_fused)
            results.append(row)

    info = machine()
    print(f"GRU hidden {args.hidden}, layers {args.layers}, bidirectional {args.bidirectional}, batch "
          f"{args.batch} real names; median of {args.repeats} (epoch: {args.epoch_repeats}); "
          f"{info['cpu']}, torch {info['torch']}, backend {info['seqkit_backend']}")
    table = []
    for r in results:
        t = {"threads": r["threads"], "input": r["input"],
             "fwd ms nn.GRU": f"{r['fwd_ms_nn_gru']:.2f}", "fwd ms fused": f"{r['fwd_ms_fused']:.2f}",
             "fwd x": f"{r['fwd_speedup']:.2f}",
             "fwd+bwd ms nn.GRU": f"{r['fwd_bwd_ms_nn_gru']:.2f}", "fwd+bwd ms fused": f"{r['fwd_bwd_ms_fused']:.2f}",
             "fwd+bwd x": f"{r['fwd_bwd_speedup']:.2f}"}
        if "epoch_speedup" in r:
            t.update({"epoch s nn.GRU": f"{r['epoch_s_nn_gru']:.3f}", "epoch s fused": f"{r['epoch_s_fused']:.3f}",
                      "epoch x": f"{r['epoch_speedup']:.2f}"})
        table.append(t)
    print_table(table, list(table[0]))
    write_json(args.json, {"benchmark": "gru", "hidden": args.hidden, "layers": args.layers,
                           "bidirectional": args.bidirectional, "batch": args.batch,
                           "machine": info, "results": results})
    return results


if __name__ == "__main__":
    main()
