"""Training throughput on name2lang, side by side in one process.

Rows (same task: surname -> language, GRU hidden 128, one-hot input, batches of 256):

1. course, unbatched: the course's per-name, per-character loop (``name_rep`` + one
   ``GRU`` call per letter, backward per name);
2. course, batched: ``batched_name_rep`` (Python loop per letter) + ``pack_padded_sequence``
   + ``nn.GRU``;
3. seqkit ``--cell gru --collator pack`` (the idiomatic torch pipeline: DataLoader, a
   tensor per name, ``pack_sequence``, ``nn.GRU``), whole epochs through the engine;
4. seqkit ``--cell fused-gru --collator fused-pack`` (fused encode-and-pack + fused GRU),
   whole epochs through the engine;
5. and 6. rows 3 and 4 with ``--precision bf16`` (bfloat16 autocast: bf16 GEMM operands,
   float32 weights and state), unless ``--no-bf16``: fast only where the CPU multiplies
   bf16 natively (AVX512-BF16, AMX).

Rows 3-6 train the same model on the same split and report the median epoch time,
names/s and the final top-1 accuracy. Ratios are against row 3 (float32 torch).

``--model course`` (default) is the course's model above: one-hot input, one direction,
no dropout. ``--model defaults`` trains what ``seqkit run`` trains with every other
option at its default (learned 64-wide embedding, bidirectional, input and head dropout
0.3, label smoothing 0.1), at the given ``--batch``, ``--hidden``, ``--threads``; rows 1
and 2 (the course's own loops) are then left out, since they train the course's model.

The engine rows run in ``--rounds`` rounds (default 5), each round training every row
once in turn, so a slow spell of a shared machine falls on all rows alike: a row's
figures are the medians over its rounds' epochs, and its ratio is the median of the
per-round ratios (each round's ratio printed too). Example::

    python benchmarks/bench_train.py --data ../shared/data/names --epochs 5 --rounds 3 --json bench_train.json
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ALL_LETTERS, DEFAULT_DATA, machine, print_table, unicode_to_ascii, write_json  # noqa: E402

N_LETTERS = len(ALL_LETTERS)


def course_data(data_dir: Path):
    """The course's X, Y lists (ASCII-folded names) and language list."""
    X, Y = [], []
    for f in sorted(Path(data_dir).glob("*.txt")):
        for line in f.read_text(encoding="utf-8").splitlines():
            name = unicode_to_ascii(line.strip())
            if name:
                X.append(name)
                Y.append(f.stem)
    return X, Y, sorted(set(Y))


class CourseGRU(nn.Module):
    """The course's GRU_net: nn.GRU + Linear + LogSoftmax, fed one letter at a time."""

    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.gru_cell = nn.GRU(input_size, hidden_size)
        self.h2o = nn.Linear(hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=2)

    def forward(self, input_, hidden):
        out, hidden = self.gru_cell(input_.view(1, 1, -1), hidden)
        output = self.softmax(self.h2o(hidden))
        return output.view(1, -1), hidden


def name_rep(name):
    rep = torch.zeros(len(name), 1, N_LETTERS)
    for index, letter in enumerate(name):
        rep[index][0][ALL_LETTERS.find(letter)] = 1
    return rep


def batched_name_rep(names, max_word_size):
    rep = torch.zeros(max_word_size, len(names), N_LETTERS)
    for name_index, name in enumerate(names):
        for letter_index, letter in enumerate(name):
            rep[letter_index][name_index][ALL_LETTERS.find(letter)] = 1
    return rep


def bench_course_unbatched(X, Y, languages, hidden, n_names, batch):
    net = CourseGRU(N_LETTERS, hidden, len(languages))
    opt = torch.optim.SGD(net.parameters(), lr=0.0005, momentum=0.9)
    crit = nn.NLLLoss()
    rng = random.Random(0)
    done, t0 = 0, time.perf_counter()
    while done < n_names:
        opt.zero_grad()
        for _ in range(min(batch, n_names - done)):
            i = rng.randrange(len(X))
            ohe = name_rep(X[i])
            target = torch.tensor([languages.index(Y[i])])
            hidden_state = torch.zeros(1, 1, hidden)
            for k in range(ohe.size(0)):
                output, hidden_state = net(ohe[k], hidden_state)
            crit(output, target).backward()
            done += 1
        opt.step()
    return done / (time.perf_counter() - t0)


class CourseBatchedGRU(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.gru = nn.GRU(input_size, hidden_size)
        self.h2o = nn.Linear(hidden_size, output_size)

    def forward(self, packed):
        _, hidden = self.gru(packed)
        return self.h2o(hidden[-1])


def bench_course_batched(X, Y, languages, hidden, n_batches, batch):
    net = CourseBatchedGRU(N_LETTERS, hidden, len(languages))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    crit = nn.CrossEntropyLoss()
    rng = random.Random(0)
    t0 = time.perf_counter()
    for _ in range(n_batches):
        idx = [rng.randrange(len(X)) for _ in range(batch)]
        names = [X[i] for i in idx]
        lengths = [len(n) for n in names]
        rep = batched_name_rep(names, max(lengths))
        langs = torch.tensor([languages.index(Y[i]) for i in idx])
        packed = pack_padded_sequence(rep, lengths, enforce_sorted=False)
        opt.zero_grad()
        crit(net(packed), langs).backward()
        opt.step()
    return n_batches * batch / (time.perf_counter() - t0)


#: RunConfig fields of each --model (the rest at their defaults)
MODELS = {
    "course": {"encoder": "onehot", "bidirectional": False, "head_dropout": 0.0, "label_smoothing": 0.0, "lr": 3e-3},
    "defaults": {},
}


def bench_engine(data, cell, collator, hidden, batch, epochs, threads, seed, precision="fp32", model="course"):
    from seqkit.engine import RunConfig, train

    with tempfile.TemporaryDirectory() as out:
        cfg = RunConfig(data=str(data), cell=cell, collator=collator, hidden_size=hidden, batch_size=batch,
                        epochs=epochs, threads=threads, seed=seed, quiet=True, out=out, precision=precision,
                        **MODELS[model])
        m = train(cfg)
        hist = [json.loads(line) for line in Path(out, "history.jsonl").read_text().splitlines()]
    epoch_s = [h["epoch_seconds"] for h in hist]
    secs = statistics.median(epoch_s)
    return {"epoch_s": secs, "names_per_s": m["split"]["train"] / secs, "top1": m["top1"],
            "epochs": epochs, "train_seconds": m["train_seconds"], "epoch_seconds": epoch_s,
            "names": m["split"]["train"]}


def bench_rounds(configs, rounds, **kw):
    """Train every (name, cell, collator, precision) of ``configs`` once per round, in turn.

    Returns {name: {"rounds": [per-round results], "epoch_s": median over all epochs,
    "names_per_s", "top1"}}.
    """
    runs = {name: [] for name, *_ in configs}
    for r in range(rounds):
        for name, cell, collator, precision in configs:
            runs[name].append(bench_engine(kw["data"], cell, collator, kw["hidden"], kw["batch"], kw["epochs"],
                                           kw["threads"], kw["seed"], precision=precision, model=kw["model"]))
        print(f"round {r + 1}/{rounds}: " + ", ".join(f"{n} {runs[n][-1]['epoch_s']:.3f} s" for n in runs),
              flush=True)
    out = {}
    for name, res in runs.items():
        secs = statistics.median(s for x in res for s in x["epoch_seconds"])
        out[name] = {"rounds": res, "epoch_s": secs, "names_per_s": res[0]["names"] / secs,
                     "top1": statistics.median(x["top1"] for x in res)}
    return out


def round_ratios(rows, name, base):
    """Per-round names/s ratios of row ``name`` to row ``base`` (same round)."""
    return [b["epoch_s"] / a["epoch_s"] for a, b in zip(rows[name]["rounds"], rows[base]["rounds"])]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="name2lang names/ directory")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=5, help="rounds of the engine rows, each row once per round")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--batch", type=int, default=None,
                    help="batch size (default: 256 for --model course, seqkit run's 64 for --model defaults)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--course-names", type=int, default=512, help="names for the unbatched course loop")
    ap.add_argument("--course-batches", type=int, default=8, help="batches for the batched course loop")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", choices=sorted(MODELS), default="course",
                    help="course: one-hot, one direction, no dropout (default); defaults: seqkit run's defaults")
    ap.add_argument("--no-bf16", dest="bf16", action="store_false", help="skip the --precision bf16 rows")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args(argv)
    if args.batch is None:
        args.batch = 256 if args.model == "course" else 64
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    rows = []
    if args.model == "course":
        X, Y, languages = course_data(Path(args.data))
        rate = bench_course_unbatched(X, Y, languages, args.hidden, args.course_names, args.batch)
        rows.append({"pipeline": "course unbatched loop", "names/s": rate})
        rate = bench_course_batched(X, Y, languages, args.hidden, args.course_batches, args.batch)
        rows.append({"pipeline": "course batched one-hot + pack", "names/s": rate})
    configs = [("torch", "gru", "pack", "fp32"), ("seqkit", "fused-gru", "fused-pack", "fp32")]
    if args.bf16:
        configs += [("torch bf16", "gru", "pack", "bf16"), ("seqkit bf16", "fused-gru", "fused-pack", "bf16")]
    eng = bench_rounds(configs, args.rounds, data=args.data, hidden=args.hidden, batch=args.batch,
                       epochs=args.epochs, threads=args.threads, seed=args.seed, model=args.model)
    labels = {"torch": "torch: --cell gru --collator pack",
              "seqkit": "seqkit: --cell fused-gru --collator fused-pack",
              "torch bf16": "torch: --cell gru --collator pack --precision bf16",
              "seqkit bf16": "seqkit: --cell fused-gru --collator fused-pack --precision bf16"}
    ratios = {name: round_ratios(eng, name, "torch") for name in eng}
    for name, r in eng.items():
        rows.append({"pipeline": labels[name], "names/s": r["names_per_s"], "epoch_s": r["epoch_s"],
                     "top1": r["top1"], "ratio": statistics.median(ratios[name]), "round_ratios": ratios[name]})

    base = eng["torch"]["names_per_s"]
    table = []
    for r in rows:
        ratio = r["ratio"] if "ratio" in r else r["names/s"] / base
        table.append({"pipeline": r["pipeline"], "names/s": f"{r['names/s']:,.0f}",
                      "epoch s (median)": f"{r['epoch_s']:.3f}" if "epoch_s" in r else "",
                      "top1": f"{r['top1']:.4f}" if "top1" in r else "",
                      "vs torch": f"{ratio:.2f}x"})
    print(f"name2lang training, {args.model} model, hidden {args.hidden}, batch {args.batch}, {args.threads} threads, "
          f"{args.rounds} rounds x {args.epochs} epochs for the engine rows (medians; engine-row ratios: "
          "median of the per-round ratios)")
    print_table(table, ["pipeline", "names/s", "epoch s (median)", "top1", "vs torch"])
    fused = statistics.median(ratios["seqkit"])
    print(f"fused vs torch: {fused:.2f}x names/s (rounds: {', '.join(f'{x:.2f}' for x in ratios['seqkit'])}); "
          f"top1 {eng['seqkit']['top1']:.4f} vs {eng['torch']['top1']:.4f}")
    extra = {}
    if args.bf16:
        extra = {"fused_bf16_vs_torch": statistics.median(ratios["seqkit bf16"]),
                 "fused_bf16_vs_torch_bf16": statistics.median(
                     [a / b for a, b in zip(ratios["seqkit bf16"], ratios["torch bf16"])])}
        print(f"fused bf16 vs torch float32: {extra['fused_bf16_vs_torch']:.2f}x, vs torch bf16: "
              f"{extra['fused_bf16_vs_torch_bf16']:.2f}x names/s; top1 {eng['seqkit bf16']['top1']:.4f}")
    write_json(args.json, {"benchmark": "train", "machine": machine(), "args": vars(args), "rows": rows,
                           "fused_vs_torch": fused, "fused_vs_torch_rounds": ratios["seqkit"], **extra})


if __name__ == "__main__":
    main()
