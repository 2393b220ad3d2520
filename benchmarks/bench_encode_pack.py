"""Benchmark: encode + pack a batch of names, names/s, single thread.

Side by side in one process, medians of repeated runs over the same batches of real
name2lang names (ASCII-folded as in the course):

- course loop:      the course's per-letter ``batched_name_rep`` + pack_padded_sequence
- idiomatic one-hot / indices: one tensor per name + pad_sequence + pack_padded_sequence
- seqkit encode_pack (list of str) and encode_pack_corpus (pre-encoded corpus + rows)

    python benchmarks/bench_encode_pack.py [--batch 256] [--batches 40] [--json out.json]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ALL_LETTERS, DEFAULT_DATA, load_names, machine, median_time, print_table, write_json  # noqa: E402

from seqkit import ops  # noqa: E402

N_LETTERS = len(ALL_LETTERS)
INDEX = {c: i for i, c in enumerate(ALL_LETTERS)}


def course_loop(batch):
    rep = torch.zeros(max(len(n) for n in batch), len(batch), N_LETTERS)
    for name_index, name in enumerate(batch):
        for letter_index, letter in enumerate(name):
            rep[letter_index][name_index][ALL_LETTERS.find(letter)] = 1
    return pack_padded_sequence(rep, [len(n) for n in batch], enforce_sorted=False)


def idiomatic_indices(batch):
    seqs = [torch.tensor([INDEX[c] for c in name]) for name in batch]
    lengths = torch.tensor([len(s) for s in seqs])
    return pack_padded_sequence(pad_sequence(seqs), lengths, enforce_sorted=False)


def idiomatic_one_hot(batch):
    seqs = [F.one_hot(torch.tensor([INDEX[c] for c in name]), N_LETTERS).float() for name in batch]
    lengths = torch.tensor([len(s) for s in seqs])
    return pack_padded_sequence(pad_sequence(seqs), lengths, enforce_sorted=False)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="name2lang names/ folder")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--batches", type=int, default=40, help="batches per timed run")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--slow-batches", type=int, default=10,
                    help="batches per timed run for the slow Python baselines")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    names = load_names(args.data)
    need = args.batch * args.batches
    names = (names * (need // len(names) + 1))[:need]
    batches = [names[i:i + args.batch] for i in range(0, need, args.batch)]
    slow = batches[: args.slow_batches]

    # pre-encoded corpus: flat uint8 symbols + int64 offsets, rows per batch
    codes = np.frombuffer("".join(names).encode("latin-1"), dtype=np.uint8)
    lut = np.full(256, 255, dtype=np.uint8)
    for i, c in enumerate(ALL_LETTERS):
        lut[ord(c)] = i
    symbols = lut[codes]
    offsets = np.zeros(len(names) + 1, dtype=np.int64)
    np.cumsum([len(n) for n in names], out=offsets[1:])
    row_batches = [torch.arange(i, i + args.batch) for i in range(0, need, args.batch)]

    # sanity: every method gives the same packed batch (content, batch_sizes)
    ref = course_loop(batches[0])
    for got in (ops.encode_pack(batches[0], ALL_LETTERS, one_hot=True),
                ops.encode_pack_corpus(symbols, offsets, row_batches[0], num_symbols=N_LETTERS, one_hot=True),
                idiomatic_one_hot(batches[0])):
        assert torch.equal(got.batch_sizes, ref.batch_sizes)
        assert torch.equal(torch.nn.utils.rnn.pad_packed_sequence(got)[0],
                           torch.nn.utils.rnn.pad_packed_sequence(ref)[0])

    cases = [
        ("course loop + pack (one-hot)", slow, lambda bs: [course_loop(b) for b in bs]),
        ("idiomatic torch (one-hot)", slow, lambda bs: [idiomatic_one_hot(b) for b in bs]),
        ("idiomatic torch (indices)", slow, lambda bs: [idiomatic_indices(b) for b in bs]),
        ("seqkit encode_pack (one-hot)", batches,
         lambda bs: [ops.encode_pack(b, ALL_LETTERS, one_hot=True) for b in bs]),
        ("seqkit encode_pack (indices)", batches, lambda bs: [ops.encode_pack(b, ALL_LETTERS) for b in bs]),
        ("seqkit encode_pack_corpus (one-hot)", row_batches,
         lambda rs: [ops.encode_pack_corpus(symbols, offsets, r, num_symbols=N_LETTERS, one_hot=True) for r in rs]),
        ("seqkit encode_pack_corpus (indices)", row_batches,
         lambda rs: [ops.encode_pack_corpus(symbols, offsets, r) for r in rs]),
    ]
    results = []
    for name, data, fn in cases:
        # one batch at a time, results dropped (as a data loader would hand them on)
        def run():
            for item in data:
                fn([item])

        t = median_time(run, args.repeats)
        results.append({"method": name, "names_per_s": len(data) * args.batch / t,
                        "us_per_batch": 1e6 * t / len(data)})
    base = {r["method"]: r["names_per_s"] for r in results}
    course = base["course loop + pack (one-hot)"]
    rows = []
    for r in results:
        onehot = "one-hot" in r["method"]
        idiom = base["idiomatic torch (one-hot)" if onehot else "idiomatic torch (indices)"]
        r["x_course_loop"] = r["names_per_s"] / course
        r["x_idiomatic"] = r["names_per_s"] / idiom
        rows.append({"method": r["method"], "names/s": f"{r['names_per_s']:,.0f}",
                     "us/batch": f"{r['us_per_batch']:.1f}", "x course": f"{r['x_course_loop']:.1f}",
                     "x idiomatic": f"{r['x_idiomatic']:.1f}"})
    info = machine()
    print(f"encode+pack, batches of {args.batch} name2lang names, 1 thread, median of "
          f"{args.repeats}; {info['cpu']}, torch {info['torch']}, seqkit backend {info['seqkit_backend']}")
    print_table(rows, ["method", "names/s", "us/batch", "x course", "x idiomatic"])
    print("x idiomatic: against the idiomatic path of the same output (one-hot or indices)")
    write_json(args.json, {"benchmark": "encode_pack", "batch": args.batch, "machine": info,
                           "results": results})
    return results


if __name__ == "__main__":
    main()
