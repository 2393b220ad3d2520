"""GPU benchmark of seqkit's CUDA kernels against cuDNN and the idiomatic pipeline.

Side by side in one process, on the GPU, medians of repeated runs (CUDA synchronized
around every timed call), TF32 off, the real name2lang names:

1. ``gru``: one layer, hidden 128, batch 256 real names, forward + backward (ms):
   seqkit FusedGRU on the PackedSequence (per-step path and persistent kernel), against
   ``torch.nn.GRU`` (cuDNN) on the same PackedSequence and on the padded, unpacked batch
   (where cuDNN may use its persistent algorithm). Input ``index`` (symbol indices; cuDNN
   gets the equal one-hot rows) and ``embed`` (64-dim rows).
2. ``epoch``: a training epoch from raw strings (16,059 names, batches of 256, Adam):
   the idiomatic pipeline (DataLoader + a tensor per name + pad/pack + one-hot +
   ``.to("cuda")`` + cuDNN GRU) against seqkit (encode-and-pack on the GPU + FusedGRU on
   symbol indices); names/s and the ratio.
3. ``encode_pack``: names/s of encode-and-pack of a batch of 256 names into a CUDA
   PackedSequence: on the GPU (``seqkit::encode_pack_codes``: one flat code-point buffer,
   one pinned copy, mapping and packing on the device), the CPU kernel + ``.to("cuda")``,
   the CPU kernel alone, and the idiomatic path (tensor per name, pad_sequence,
   pack_padded_sequence) + ``.to("cuda")``.

Needs a GPU and seqkit._C built with the CUDA kernels (docs/cuda.md)::

    python benchmarks/bench_cuda.py --data ../shared/data/names --json benchmarks/results/cuda.json
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence, pad_sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ALL_LETTERS, DEFAULT_DATA, machine, print_table, unicode_to_ascii, write_json  # noqa: E402

from seqkit import ops  # noqa: E402
from seqkit.nn.fused_gru import FusedGRU  # noqa: E402

TRAIN_NAMES = 16059
LETTER_INDEX = {c: i for i, c in enumerate(ALL_LETTERS)}


# -- data ------------------------------------------------------------------------------

def load_labelled(data_dir, seed=0):
    """(names, labels, languages): ASCII-folded surnames of name2lang, shuffled."""
    files = sorted(Path(data_dir).glob("*.txt"))
    if not files:
        raise SystemExit(f"no *.txt under {data_dir}; pass --data DIR (the name2lang names/ folder)")
    pairs = []
    for k, f in enumerate(files):
        for line in f.read_text(encoding="utf-8").splitlines():
            name = unicode_to_ascii(line.strip())
            if name:
                pairs.append((name, k))
    random.Random(seed).shuffle(pairs)
    return [p[0] for p in pairs], [p[1] for p in pairs], [f.stem for f in files]


def code_table(alphabet):
    """int32 code point -> symbol table (-1: not in the alphabet; first occurrence wins)."""
    lut = torch.full((max(map(ord, alphabet)) + 1,), -1, dtype=torch.int32)
    for i, ch in reversed(list(enumerate(alphabet))):
        lut[ord(ch)] = i
    return lut


def texts_to_codes(texts):
    """One flat int32 buffer of code points + int64 offsets [n+1] (no Python object per char)."""
    joined = "".join(texts)
    codes = torch.from_numpy(np.frombuffer(joined.encode("utf-32-le"), dtype=np.int32).copy())
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return codes, torch.from_numpy(offsets)


def gpu_encode_pack(texts, lut, device):
    """seqkit encode-and-pack on the GPU: a CUDA PackedSequence of symbol indices."""
    codes, offsets = texts_to_codes(texts)
    data, bs, si, ui = torch.ops.seqkit.encode_pack_codes(codes, offsets, lut, -1, len(ALL_LETTERS),
                                                          False, device)
    return PackedSequence(data, bs, si, ui)


def idiomatic_pack(texts, device, one_hot):
    """A tensor per name, pad_sequence, pack_padded_sequence (enforce_sorted=False), .to(device)."""
    seqs = [torch.tensor([LETTER_INDEX[c] for c in t], dtype=torch.int64) for t in texts]
    lengths = torch.tensor([len(s) for s in seqs])
    padded = pad_sequence(seqs)
    if one_hot:
        padded = nn.functional.one_hot(padded, len(ALL_LETTERS)).float()
    return pack_padded_sequence(padded, lengths, enforce_sorted=False).to(device)


# -- timing ------------------------------------------------------------------------------

def cuda_median(fn, repeats, warmup=3):
    """Median wall time of fn() in seconds, the GPU synchronized before and after each run."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def with_mode(mode, fn):
    """Run fn with SEQKIT_CUDA_GRU=mode (the launcher reads it on every call)."""
    def run():
        old = os.environ.get("SEQKIT_CUDA_GRU")
        os.environ["SEQKIT_CUDA_GRU"] = mode
        try:
            return fn()
        finally:
            if old is None:
                os.environ.pop("SEQKIT_CUDA_GRU", None)
            else:
                os.environ["SEQKIT_CUDA_GRU"] = old
    return run


# -- 1. GRU forward + backward -----------------------------------------------------------

def fwd_bwd(model, x):
    out, h = model(x)
    data = out.data if isinstance(out, PackedSequence) else out
    (data.sum() + h.sum()).backward()


def bench_gru(names, args, device):
    rows = []
    batch = names[: args.batch]
    p_cpu = ops.encode_pack(batch, ALL_LETTERS)  # int64 indices, CPU
    emb = nn.Embedding(len(ALL_LETTERS), args.embed).to(device)
    for kind in ("index", "embed"):
        size = len(ALL_LETTERS) if kind == "index" else args.embed
        torch.manual_seed(0)
        ref = nn.GRU(size, args.hidden).to(device)
        fused = FusedGRU(size, args.hidden).to(device)
        fused.load_state_dict(ref.state_dict())
        p = PackedSequence(p_cpu.data.to(device), p_cpu.batch_sizes, p_cpu.sorted_indices.to(device),
                           p_cpu.unsorted_indices.to(device))
        if kind == "index":
            fused_in = p
            ref_in = PackedSequence(nn.functional.one_hot(p.data, size).float(), p.batch_sizes,
                                    p.sorted_indices, p.unsorted_indices)
        else:
            x = emb(p.data).detach().requires_grad_()
            fused_in = ref_in = PackedSequence(x, p.batch_sizes, p.sorted_indices, p.unsorted_indices)
        padded, _ = pad_packed_sequence(ref_in)  # [T, B, I], the padded, unpacked batch
        padded = padded.detach().requires_grad_(kind == "embed")
        # same numbers before timing anything
        out_r, h_r = ref(ref_in)
        errs = {}
        for mode in ("steps", "persistent"):
            out_f, h_f = with_mode(mode, lambda: fused(fused_in))()
            errs[mode] = max((out_r.data - out_f.data).abs().max().item(), (h_r - h_f).abs().max().item())
            if errs[mode] > 1e-4:
                raise SystemExit(f"FusedGRU ({mode}) and nn.GRU disagree by {errs[mode]:.3g} ({kind})")
        row = {"input": kind, "max_abs_diff": max(errs.values())}
        row["ms_cudnn_packed"] = 1e3 * cuda_median(lambda: fwd_bwd(ref, ref_in), args.repeats)
        row["ms_cudnn_padded"] = 1e3 * cuda_median(lambda: fwd_bwd(ref, padded), args.repeats)
        for mode in ("steps", "persistent"):
            row[f"ms_fused_{mode}"] = 1e3 * cuda_median(with_mode(mode, lambda: fwd_bwd(fused, fused_in)),
                                                       args.repeats)
        best = min(row["ms_fused_steps"], row["ms_fused_persistent"])
        row["x_vs_cudnn_packed"] = row["ms_cudnn_packed"] / best
        row["x_vs_cudnn_padded"] = row["ms_cudnn_padded"] / best
        rows.append(row)
    return rows


# -- 2. a training epoch from raw strings ------------------------------------------------

class Classifier(nn.Module):
    def __init__(self, rnn, hidden, classes):
        super().__init__()
        self.rnn = rnn
        self.out = nn.Linear(hidden, classes)

    def forward(self, packed):
        _, h = self.rnn(packed)
        return self.out(h[-1])


def bench_epoch(names, labels, n_classes, args, device, lut):
    names, labels = names[:TRAIN_NAMES], labels[:TRAIN_NAMES]
    order = list(range(len(names)))

    def batches(epoch):
        random.Random(epoch).shuffle(order)
        for i in range(0, len(order), args.batch):
            idx = order[i:i + args.batch]
            yield [names[j] for j in idx], [labels[j] for j in idx]

    # idiomatic: DataLoader (collate: tensor per name, pad, pack, one-hot) + .to + cuDNN
    class Names(torch.utils.data.Dataset):
        def __len__(self):
            return len(names)

        def __getitem__(self, i):
            return names[i], labels[i]

    def collate(items):
        texts = [t for t, _ in items]
        return idiomatic_pack(texts, "cpu", one_hot=True), torch.tensor([y for _, y in items])

    torch.manual_seed(0)
    ref = Classifier(nn.GRU(len(ALL_LETTERS), args.hidden), args.hidden, n_classes).to(device)
    opt_r = torch.optim.Adam(ref.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(Names(), batch_size=args.batch, shuffle=True, collate_fn=collate)

    def epoch_ref():
        for packed, y in loader:
            packed, y = packed.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = nn.functional.cross_entropy(ref(packed), y)
            opt_r.zero_grad(set_to_none=True)
            loss.backward()
            opt_r.step()

    torch.manual_seed(0)
    fused = Classifier(FusedGRU(len(ALL_LETTERS), args.hidden), args.hidden, n_classes).to(device)
    opt_f = torch.optim.Adam(fused.parameters(), lr=1e-3)
    count = [0]

    def epoch_fused():
        count[0] += 1
        for texts, y in batches(count[0]):
            packed = gpu_encode_pack(texts, lut, device)  # h_n comes back in input order
            y = torch.tensor(y).to(device, non_blocking=True)
            loss = nn.functional.cross_entropy(fused(packed), y)
            opt_f.zero_grad(set_to_none=True)
            loss.backward()
            opt_f.step()

    t_ref = cuda_median(epoch_ref, args.epoch_repeats, warmup=1)
    t_fused = cuda_median(epoch_fused, args.epoch_repeats, warmup=1)
    n = len(names)
    return [{"pipeline": "idiomatic (DataLoader + pad/pack + one-hot + cuDNN GRU)", "s_per_epoch": t_ref,
             "names_per_s": n / t_ref, "x": 1.0},
            {"pipeline": "seqkit (GPU encode-and-pack + FusedGRU)", "s_per_epoch": t_fused,
             "names_per_s": n / t_fused, "x": t_ref / t_fused}]


# -- 3. encode-and-pack --------------------------------------------------------------------

def bench_encode_pack(names, args, device, lut):
    batch = names[: args.batch]
    ref = ops.encode_pack(batch, ALL_LETTERS)
    got = gpu_encode_pack(batch, lut, device)
    for a, b, what in ((got.data, ref.data, "data"), (got.batch_sizes, ref.batch_sizes, "batch_sizes"),
                       (got.sorted_indices, ref.sorted_indices, "sorted_indices")):
        if not torch.equal(a.cpu(), b):
            raise SystemExit(f"GPU encode-and-pack differs from the CPU kernel in {what}")
    if got.batch_sizes.device.type != "cpu":
        raise SystemExit("GPU encode-and-pack returned batch_sizes on the GPU")

    def cpu_to_cuda():
        p = ops.encode_pack(batch, ALL_LETTERS)
        return PackedSequence(p.data.to(device, non_blocking=True), p.batch_sizes,
                              p.sorted_indices.to(device, non_blocking=True),
                              p.unsorted_indices.to(device, non_blocking=True))

    cases = [("GPU kernel (encode_pack_codes)", lambda: gpu_encode_pack(batch, lut, device)),
             ("CPU kernel + .to(cuda)", cpu_to_cuda),
             ("CPU kernel (stays on CPU)", lambda: ops.encode_pack(batch, ALL_LETTERS)),
             ("idiomatic + .to(cuda)", lambda: idiomatic_pack(batch, device, one_hot=False))]
    rows = []
    for label, fn in cases:
        t = cuda_median(fn, args.repeats)
        rows.append({"path": label, "us_per_batch": 1e6 * t, "names_per_s": len(batch) / t})
    gpu = rows[0]["names_per_s"]
    for r in rows:
        r["gpu_x"] = gpu / r["names_per_s"]
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--embed", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=51)
    ap.add_argument("--epoch-repeats", type=int, default=3, help="0 skips the epoch rows")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)

    if not torch.cuda.is_available():
        raise SystemExit("bench_cuda: CUDA is not available (this benchmark needs an NVIDIA GPU and a "
                         "CUDA build of PyTorch); nothing to measure")
    os.environ.setdefault("SEQKIT_BACKEND", "cpp")
    if ops.backend() != "cpp" or not ops.runtime.has_cuda_kernels():
        raise SystemExit("bench_cuda: seqkit._C was built without the CUDA kernels; rebuild it with a "
                         "CUDA torch and nvcc present (pip install --no-build-isolation -e .), see docs/cuda.md")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = torch.device("cuda")
    names, labels, languages = load_labelled(args.data)
    lut = code_table(ALL_LETTERS)

    gru_rows = bench_gru(names, args, device)
    epoch_rows = bench_epoch(names, labels, len(languages), args, device, lut) if args.epoch_repeats else []
    ep_rows = bench_encode_pack(names, args, device, lut)

    info = machine()
    info["gpu"] = torch.cuda.get_device_name(device)
    info["cuda"] = torch.version.cuda
    info["cudnn"] = torch.backends.cudnn.version()
    print(f"{info['gpu']} (CUDA {info['cuda']}, cuDNN {info['cudnn']}), torch {info['torch']}; "
          f"hidden {args.hidden}, batch {args.batch} real names, TF32 off, medians of {args.repeats} "
          f"(epoch: {args.epoch_repeats})")
    print("\nGRU forward + backward, ms")
    print_table([{"input": r["input"], "cuDNN packed": f"{r['ms_cudnn_packed']:.3f}",
                  "cuDNN padded": f"{r['ms_cudnn_padded']:.3f}", "fused steps": f"{r['ms_fused_steps']:.3f}",
                  "fused persistent": f"{r['ms_fused_persistent']:.3f}",
                  "x vs packed": f"{r['x_vs_cudnn_packed']:.2f}", "x vs padded": f"{r['x_vs_cudnn_padded']:.2f}"}
                 for r in gru_rows], ["input", "cuDNN packed", "cuDNN padded", "fused steps", "fused persistent",
                                      "x vs packed", "x vs padded"])
    if epoch_rows:
        print("\nTraining epoch from raw strings")
        print_table([{"pipeline": r["pipeline"], "s/epoch": f"{r['s_per_epoch']:.3f}",
                      "names/s": f"{r['names_per_s']:,.0f}", "x": f"{r['x']:.2f}"} for r in epoch_rows],
                    ["pipeline", "s/epoch", "names/s", "x"])
    print("\nencode-and-pack of a batch into a CUDA PackedSequence")
    print_table([{"path": r["path"], "us/batch": f"{r['us_per_batch']:.1f}", "names/s": f"{r['names_per_s']:,.0f}",
                  "GPU kernel x": f"{r['gpu_x']:.2f}"} for r in ep_rows],
                ["path", "us/batch", "names/s", "GPU kernel x"])
    write_json(args.json, {"benchmark": "cuda", "hidden": args.hidden, "batch": args.batch, "machine": info,
                           "gru": gru_rows, "epoch": epoch_rows, "encode_pack": ep_rows})
    return gru_rows, epoch_rows, ep_rows


if __name__ == "__main__":
    main()
