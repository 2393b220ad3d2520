"""Scale on one machine: load time, resident memory and training throughput from 20
thousand to 5 million names.

The corpus (``generate``) is made deterministically (numpy ``default_rng(seed)``) by
recombining name2lang syllables within each language:

1. every real name is cut into syllables (a run of consonants, then a run of vowels; a
   trailing consonant run stays with the last syllable: ``Nakamura -> Na|ka|mu|ra``,
   ``Smith -> Smith``), giving per language a pool of first, middle and last syllables,
   the names of one syllable, and the distribution of syllables per name;
2. each generated name draws its language with name2lang's language frequencies, a
   syllable count from that language's distribution, then a first, (k - 2) middle and a
   last syllable from that language's pools (a one-syllable name is a real one).

So names look like the language's (``Kovalchenko``, ``Takasaki``) and the character and
length distributions follow name2lang's; most generated names are new. The file is
``name,language`` lines (the course layout the ``name2lang`` dataset reads); the smaller
sizes are prefixes of the 5M file.

Per size, in a fresh subprocess (so nothing else is resident): load it through the
registry as ``seqkit run`` does, measure wall time, RSS after load minus RSS before
(after ``gc.collect()``; also after ``malloc_trim(0)`` which returns freed heap pages),
the exact ``nbytes`` of the corpus buffers against the bound of 2 bytes per character +
16 bytes per name; then the engine's default pieces (80/20 stratified split, ``index``
encoder fitted on the training texts, the ``pack`` (and ``fused-pack``) collator,
``gru`` bidirectional 128 through the ``classify`` task, AdamW, the bucketing sampler,
a DataLoader) train ``--steps`` steps of ``--batch-size`` names (fetching and collating
each batch included; a small corpus wraps to the next epoch, whose restart is not timed);
names/s is the median over windows of ``--window`` steps after ``--warmup`` steps. The
sizes run interleaved, ``--rounds`` times, and the table shows medians over rounds.
Example::

    python benchmarks/bench_scale.py --json benchmarks/results/bench_scale.json
    python benchmarks/bench_scale.py --sizes 20000,200000 --steps 60      # a quick look
"""
from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_DATA, machine, print_table, write_json

SIZES = (20_000, 200_000, 1_000_000, 5_000_000)


# -- the generated corpus ----------------------------------------------------------------
def _is_vowel(ch: str) -> bool:
    base = unicodedata.normalize("NFD", ch)[:1].lower()
    return base in "aeiouy"


def syllables(name: str) -> list[str]:
    """``Nakamura -> [Na, ka, mu, ra]``: consonants + vowels; a final consonant run stays."""
    pattern = "".join("V" if _is_vowel(c) else "C" for c in name)
    parts = [m.span() for m in re.finditer(r"C*V+(?:C+$)?|C+", pattern)]
    return [name[a:b] for a, b in parts]


def read_name2lang(data_dir: Path) -> dict[str, list[str]]:
    out = {}
    for f in sorted(Path(data_dir).glob("*.txt")):
        out[f.stem] = [line.strip() for line in f.read_text("utf-8").splitlines() if line.strip()]
    if not out:
        raise SystemExit(f"no <Language>.txt under {data_dir}; pass --data DIR (the name2lang names/ folder)")
    return out


def generate(path: Path, n: int, data_dir: Path, seed: int = 0, chunk: int = 500_000) -> None:
    """Write ``n`` generated ``name,language`` lines to ``path`` (see the module docstring)."""
    real = read_name2lang(data_dir)
    langs = sorted(real)
    freq = np.array([len(real[lang]) for lang in langs], dtype=np.float64)
    pools = []
    for lang in langs:
        first, mid, last, single, ks = [], [], [], [], []
        for name in real[lang]:
            s = syllables(name)
            ks.append(len(s))
            if len(s) == 1:
                single.append(name)
            else:
                first.append(s[0])
                mid.extend(s[1:-1])
                last.append(s[-1])
        pools.append({k: np.array(v or first or single, dtype=object)
                      for k, v in (("first", first), ("mid", mid), ("last", last), ("single", single))}
                     | {"ks": np.array(ks)})
    rng = np.random.default_rng(seed)
    label_col = np.array([f",{lang}\n" for lang in langs], dtype=object)
    with open(path, "w", encoding="utf-8", newline="") as f:
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            lang = rng.choice(len(langs), size=m, p=freq / freq.sum())
            names = np.empty(m, dtype=object)
            for li, pool in enumerate(pools):
                rows = np.flatnonzero(lang == li)
                k = rng.choice(pool["ks"], size=len(rows))
                out = pool["first"][rng.integers(len(pool["first"]), size=len(rows))]
                for j in range(1, int(k.max(initial=1)) - 1):  # middle syllables where k > j + 1
                    sel = k > j + 1
                    out[sel] = out[sel] + pool["mid"][rng.integers(len(pool["mid"]), size=int(sel.sum()))]
                multi = k > 1
                out[multi] = out[multi] + pool["last"][rng.integers(len(pool["last"]), size=int(multi.sum()))]
                one = ~multi
                out[one] = pool["single"][rng.integers(len(pool["single"]), size=int(one.sum()))]
                names[rows] = out
            f.write("".join(names + label_col[lang]))


def write_prefix(src: Path, dst: Path, n: int) -> None:
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        fout.writelines(line for _, line in zip(range(n), fin))


# -- one size, in a fresh process ---------------------------------------------------------
def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _trim() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def child(args) -> dict:
    import torch

    from seqkit import registry
    from seqkit.engine import RunConfig, build_model, make_loader, make_optimizer
    from seqkit.sampling import BucketBatchSampler
    from seqkit.splits import split_dataset

    if args.threads:
        torch.set_num_threads(args.threads)
    registry.datasets.names(), registry.collators.names()  # load the plugins before measuring
    gc.collect()
    _trim()
    rss0 = _status("VmRSS")
    t0 = time.perf_counter()
    ds = registry.datasets.create("name2lang", path=args.child)
    load_s = time.perf_counter() - t0
    gc.collect()
    rss1 = _status("VmRSS")
    _trim()
    rss1_trim = _status("VmRSS")
    peak = _status("VmHWM")
    corpus = ds.corpus
    n, chars = len(ds), corpus.num_chars
    res = {"names": n, "chars": chars, "load_s": load_s, "labels": len(ds.labels),
           "symbol_dtype": str(corpus.symbols.dtype), "corpus_nbytes": corpus.nbytes,
           "bound_bytes": 2 * chars + 16 * n, "within_bound": corpus.nbytes <= 2 * chars + 16 * n,
           "bytes_per_char": corpus.symbols.nbytes / chars,
           "bytes_per_name": (corpus.offsets.nbytes + corpus.codes.nbytes) / n,
           "rss_delta": rss1 - rss0, "rss_delta_trimmed": rss1_trim - rss0, "peak_delta": peak - rss0,
           "python_str_bytes_estimate": int(sum(sys.getsizeof(t) for t in ds.texts[:20000]) / min(n, 20000) * n)}

    config = RunConfig(data=args.child, batch_size=args.batch_size, quiet=True)
    t0 = time.perf_counter()
    split = split_dataset(ds, test_size=config.test_size, seed=config.split_seed)
    train_ds = ds.subset(split.train)
    res["split_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    encoder = registry.encoders.create(config.encoder)
    encoder.fit(train_ds.texts)
    res["encoder_fit_s"] = time.perf_counter() - t0
    device = torch.device("cpu")
    for name in args.collators.split(","):
        collator = registry.collators.create(name, encoder, labels=ds.labels)
        task = registry.tasks.create(config.task)
        task.setup(train_ds, config)
        torch.manual_seed(0)
        model = build_model(task, encoder, ds.labels, config).to(device)
        opt = make_optimizer(model, config)
        sampler = BucketBatchSampler(train_ds.lengths(), config.batch_size, bucket=True, shuffle=True, seed=0)
        sampler.set_epoch(1)
        loader = make_loader(train_ds, collator, sampler, config, device)
        model.train()
        t0 = time.perf_counter()
        it = iter(loader)
        batch = next(it)
        epoch_start = time.perf_counter() - t0
        step_times, sizes = [], []
        total = args.warmup + args.steps
        epoch = 1
        for step in range(total):
            t = time.perf_counter()
            if step:
                try:
                    batch = next(it)  # fetching and collating the batch is timed
                except StopIteration:  # a small corpus: the slice spans epochs; the restart is not timed
                    epoch += 1
                    sampler.set_epoch(epoch)
                    it = iter(loader)
                    batch = next(it)
                    t = time.perf_counter()
            loss = task.loss(model, batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip, foreach=True)
            opt.step()
            if step >= args.warmup:
                step_times.append(time.perf_counter() - t)
                sizes.append(batch.size)
        rates = [sum(sizes[i:i + args.window]) / sum(step_times[i:i + args.window])
                 for i in range(0, len(step_times) - args.window + 1, args.window)]
        res[name] = {"names_per_s": statistics.median(rates), "windows": rates, "epoch_start_s": epoch_start,
                     "epochs_spanned": epoch,
                     "steps": args.steps, "batch_size": args.batch_size}
    gc.collect()
    _trim()
    res["rss_end"] = _status("VmRSS") - rss0
    res["peak_end"] = _status("VmHWM") - rss0
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=Path(os.environ.get("SEQKIT_DATA") or DEFAULT_DATA))
    p.add_argument("--sizes", default=",".join(map(str, SIZES)))
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--window", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3, help="repeat every size, interleaved; medians are reported")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--collators", default="pack,fused-pack")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--workdir", type=Path, default=None, help="where the generated files go (default: a temp dir)")
    p.add_argument("--json", default=None)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return

    sizes = sorted(int(s) for s in args.sizes.split(","))
    collators = args.collators.split(",")
    tmp = tempfile.TemporaryDirectory(prefix="seqkit-scale-") if args.workdir is None else None
    work = Path(tmp.name) if tmp else args.workdir
    work.mkdir(parents=True, exist_ok=True)
    big = work / f"names-{sizes[-1]}.txt"
    t0 = time.perf_counter()
    generate(big, sizes[-1], args.data)
    gen_s = time.perf_counter() - t0
    print(f"generated {sizes[-1]:,} names in {gen_s:.1f}s -> {big} ({big.stat().st_size / 1e6:.1f} MB)", flush=True)
    paths = {}
    for n in sizes:
        paths[n] = big if n == sizes[-1] else work / f"names-{n}.txt"
        if n != sizes[-1]:
            write_prefix(big, paths[n], n)
    runs: dict[int, list[dict]] = {n: [] for n in sizes}
    for rnd in range(args.rounds):  # sizes interleaved, so a change in the machine's load hits all of them
        for n in sizes:
            cmd = [sys.executable, __file__, "--child", str(paths[n]), "--steps", str(args.steps), "--warmup",
                   str(args.warmup), "--window", str(args.window), "--batch-size", str(args.batch_size),
                   "--collators", args.collators] + (["--threads", str(args.threads)] if args.threads else [])
            proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"size {n}: child failed:\n{proc.stderr}")
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            runs[n].append(res)
            print(f"round {rnd + 1}/{args.rounds} {n:>9,} names: load {res['load_s']:.2f}s, corpus "
                  f"{res['corpus_nbytes'] / 1e6:.1f} MB, RSS +{res['rss_delta'] / 1e6:.1f} MB, "
                  + ", ".join(f"{c} {res[c]['names_per_s']:,.0f} names/s" for c in collators), flush=True)

    def med(n, get):
        return statistics.median(get(r) for r in runs[n])

    summary = []
    for n in sizes:
        first = runs[n][0]
        row = {k: first[k] for k in ("names", "chars", "labels", "symbol_dtype", "corpus_nbytes", "bound_bytes",
                                     "within_bound", "bytes_per_char", "bytes_per_name")}
        for k in ("load_s", "rss_delta", "rss_delta_trimmed", "peak_delta", "split_s", "encoder_fit_s",
                  "python_str_bytes_estimate", "rss_end"):
            row[k] = med(n, lambda r, k=k: r[k])
        for c in collators:
            row[c] = {"names_per_s": med(n, lambda r, c=c: r[c]["names_per_s"]),
                      "epoch_start_s": med(n, lambda r, c=c: r[c]["epoch_start_s"]),
                      "rounds": [r[c]["names_per_s"] for r in runs[n]]}
        summary.append(row)
    base = summary[0]
    table = []
    for r in summary:
        row = {"names": f"{r['names']:,}", "load s": f"{r['load_s']:.2f}",
               "us/name": f"{1e6 * r['load_s'] / r['names']:.2f}",
               "corpus MB": f"{r['corpus_nbytes'] / 1e6:.2f}", "B/char": f"{r['bytes_per_char']:.2f}",
               "B/name": f"{r['bytes_per_name']:.2f}", "bound MB": f"{r['bound_bytes'] / 1e6:.1f}",
               "nbytes<=bound": "yes" if r["within_bound"] else "NO",
               "RSS+ MB": f"{r['rss_delta'] / 1e6:.1f}",
               "RSS<=bound": "yes" if r["rss_delta"] <= r["bound_bytes"] else "no",
               "peak+ MB": f"{r['peak_delta'] / 1e6:.1f}",
               "str list MB": f"{r['python_str_bytes_estimate'] / 1e6:.1f}",
               "split s": f"{r['split_s']:.2f}", "fit s": f"{r['encoder_fit_s']:.2f}"}
        for c in collators:
            row[f"{c} names/s"] = f"{r[c]['names_per_s']:,.0f}"
            row[f"{c} vs 20k"] = f"{r[c]['names_per_s'] / base[c]['names_per_s']:.2f}"
        table.append(row)
    print()
    print_table(table, list(table[0]))
    load = os.getloadavg()
    print(f"\nmedians over {args.rounds} rounds; load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          f"on {os.cpu_count()} CPUs")
    write_json(args.json, {"benchmark": "bench_scale", "machine": machine(), "loadavg_end": load,
                           "generated_s": gen_s, "file_bytes": big.stat().st_size,
                           "settings": {"steps": args.steps, "warmup": args.warmup, "window": args.window,
                                        "batch_size": args.batch_size, "collators": args.collators,
                                        "threads": args.threads, "rounds": args.rounds, "seed": 0},
                           "summary": summary, "runs": {str(n): runs[n] for n in sizes}})
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
