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

Memory and load time, per size in a fresh subprocess (so nothing else is resident),
``--rounds`` times, sizes interleaved, medians: load through the registry as ``seqkit
run`` does; wall time; RSS after load minus RSS before (after ``gc.collect()``); the
exact ``nbytes`` of the corpus buffers against the bound of 2 bytes per character + 16
bytes per name; then the time of the engine's split and encoder fit.

Throughput, all sizes side by side in one process: for each size the engine's default
pieces (80/20 stratified split, ``index`` encoder fitted on the training texts, the
``pack`` and ``fused-pack`` collators, ``gru`` bidirectional 128 through the ``classify``
task, AdamW, the bucketing sampler, a DataLoader; built with the engine's own functions)
train in windows of ``--window`` steps of ``--batch-size`` names, round-robin over the
sizes, ``--cycles`` times (fetching and collating each batch is timed; a small corpus
wraps to its next epoch, whose restart is not). names/s is the median over windows; the
ratio to the smallest size is taken within each cycle, then the median, so a change in
the machine's load (shared machines) hits every size alike. Example::

    python benchmarks/bench_scale.py --json benchmarks/results/bench_scale.json
    python benchmarks/bench_scale.py --sizes 20000,200000 --rounds 1 --cycles 3   # a quick look
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


class Runner:
    """The engine's default pieces training on one dataset, a few steps at a time (as
    ``seqkit.engine.train`` builds them: registries, the task's model from a
    ``TaskContext``, ``make_optimizer``, the bucketing sampler, ``make_loader``)."""

    def __init__(self, train_ds, labels, encoder, collator: str, config):
        import torch

        from seqkit import registry
        from seqkit.data.sampling import BucketBatchSampler
        from seqkit.engine import TaskContext, make_loader, make_optimizer

        self.torch, self.config = torch, config
        self.task = registry.tasks.create(config.task)
        ctx = TaskContext.from_config(config, encoder=encoder)
        self.task.setup(train_ds, ctx)
        torch.manual_seed(0)
        self.model = self.task.build_model(ctx)
        self.opt = make_optimizer(self.model, config)
        self.sampler = BucketBatchSampler(train_ds.lengths(), config.batch_size, bucket=True, shuffle=True, seed=0)
        self.loader = make_loader(train_ds, registry.collators.create(collator, encoder, labels=labels),
                                  self.sampler, config.workers, torch.device("cpu"))
        t0 = time.perf_counter()
        self.sampler.batches()  # the per-epoch O(corpus) work: permutation and bucketing, done once an epoch
        self.epoch_setup_s = time.perf_counter() - t0
        self.model.train()
        self.epoch = 1
        self.sampler.set_epoch(self.epoch)
        self.it = iter(self.loader)

    def steps(self, k: int) -> tuple[int, float]:
        """Train ``k`` steps; returns (names, seconds). Fetching and collating each batch is
        timed; the restart of an epoch (a small corpus wraps around) is not."""
        names, seconds = 0, 0.0
        for _ in range(k):
            t = time.perf_counter()
            try:
                batch = next(self.it)
            except StopIteration:
                self.epoch += 1
                self.sampler.set_epoch(self.epoch)
                self.it = iter(self.loader)
                batch = next(self.it)
                t = time.perf_counter()
            loss = self.task.loss(self.model, batch)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip, foreach=True)
            self.opt.step()
            seconds += time.perf_counter() - t
            names += batch.size
        return names, seconds


def _prepare(path: str, batch_size: int):
    """Load, split and fit the encoder as the engine does; with the seconds each took."""
    from seqkit import registry
    from seqkit.engine import RunConfig
    from seqkit.data.splits import split_dataset

    config = RunConfig(data=path, batch_size=batch_size, quiet=True, cell="gru")  # torch's nn.GRU, as documented
    t0 = time.perf_counter()
    ds = registry.datasets.create(config.dataset, path=path)
    t1 = time.perf_counter()
    split = split_dataset(ds, test_size=config.test_size, seed=config.split_seed)
    train_ds = ds.subset(split.train)
    t2 = time.perf_counter()
    encoder = registry.encoders.create(config.encoder).fit(train_ds.texts)
    t3 = time.perf_counter()
    return ds, train_ds, encoder, config, {"load_s": t1 - t0, "split_s": t2 - t1, "encoder_fit_s": t3 - t2}


def child(args) -> dict:
    """Load one size in this (fresh) process: time and memory."""
    from seqkit import registry

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
    del ds
    gc.collect()
    _, _, _, _, times = _prepare(args.child, args.batch_size)  # the split and the fit, timed
    res.update(split_s=times["split_s"], encoder_fit_s=times["encoder_fit_s"])
    return res


def side_by_side(args) -> dict:
    """Training throughput of every size in one process, windows interleaved round-robin,
    so a change in the machine's load hits every size alike."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    runners = []
    for path in args.side_by_side.split(","):
        ds, train_ds, encoder, config, _ = _prepare(path, args.batch_size)
        for collator in args.collators.split(","):
            runners.append({"names": len(ds), "collator": collator,
                            "runner": Runner(train_ds, ds.labels, encoder, collator, config), "rates": []})
    for r in runners:
        r["runner"].steps(args.warmup)
    for cycle in range(args.cycles):
        shift = cycle % len(runners)
        for r in runners[shift:] + runners[:shift]:
            names, seconds = r["runner"].steps(args.window)
            r["rates"].append(names / seconds)
    return {"cycles": args.cycles, "window": args.window, "threads": torch.get_num_threads(),
            "runs": [{"names": r["names"], "collator": r["collator"], "rates": r["rates"],
                      "epoch_setup_s": r["runner"].epoch_setup_s, "epochs": r["runner"].epoch} for r in runners]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=Path(os.environ.get("SEQKIT_DATA") or DEFAULT_DATA))
    p.add_argument("--sizes", default=",".join(map(str, SIZES)))
    p.add_argument("--rounds", type=int, default=3, help="load every size this many times (fresh processes)")
    p.add_argument("--cycles", type=int, default=15, help="throughput: windows per size, interleaved")
    p.add_argument("--window", type=int, default=10, help="throughput: steps per window")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--collators", default="pack,fused-pack")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--workdir", type=Path, default=None, help="where the generated files go (default: a temp dir)")
    p.add_argument("--json", default=None)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--side-by-side", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child or args.side_by_side:
        print(json.dumps(child(args) if args.child else side_by_side(args)))
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
    def subprocess_json(cmd):
        proc = subprocess.run([sys.executable, __file__, *cmd, "--batch-size", str(args.batch_size)]
                              + (["--threads", str(args.threads)] if args.threads else []),
                              check=False, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr}")
        return json.loads(proc.stdout.strip().splitlines()[-1])

    runs: dict[int, list[dict]] = {n: [] for n in sizes}
    for rnd in range(args.rounds):  # sizes interleaved, so a change in the machine's load hits all of them
        for n in sizes:
            res = subprocess_json(["--child", str(paths[n])])
            runs[n].append(res)
            print(f"load round {rnd + 1}/{args.rounds} {n:>9,} names: {res['load_s']:.2f}s, corpus "
                  f"{res['corpus_nbytes'] / 1e6:.1f} MB, RSS +{res['rss_delta'] / 1e6:.1f} MB", flush=True)
    print(f"throughput: {len(sizes)} sizes x {len(collators)} collators side by side, {args.cycles} windows of "
          f"{args.window} steps each, interleaved ...", flush=True)
    sbs = subprocess_json(["--side-by-side", ",".join(str(paths[n]) for n in sizes), "--collators", args.collators,
                           "--cycles", str(args.cycles), "--window", str(args.window), "--warmup", str(args.warmup)])

    def med(n, key):
        return statistics.median(r[key] for r in runs[n])

    def sbs_run(n, c):
        return next(r for r in sbs["runs"] if r["names"] == n and r["collator"] == c)

    def rates(n, c):
        return sbs_run(n, c)["rates"]

    summary = []
    for n in sizes:
        first = runs[n][0]
        row = {k: first[k] for k in ("names", "chars", "labels", "symbol_dtype", "corpus_nbytes", "bound_bytes",
                                     "within_bound", "bytes_per_char", "bytes_per_name")}
        for k in ("load_s", "rss_delta", "rss_delta_trimmed", "peak_delta", "split_s", "encoder_fit_s",
                  "python_str_bytes_estimate"):
            row[k] = med(n, k)
        row["epoch_setup_s"] = sbs_run(n, collators[0])["epoch_setup_s"]
        for c in collators:
            mine, base = rates(n, c), rates(sizes[0], c)
            row[c] = {"names_per_s": statistics.median(mine), "windows": mine,
                      # the ratio within each cycle (same moment, same load), then the median over cycles
                      "ratio_vs_smallest": statistics.median(a / b for a, b in zip(mine, base))}
        summary.append(row)
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
               "split s": f"{r['split_s']:.2f}", "fit s": f"{r['encoder_fit_s']:.2f}",
               "epoch setup s": f"{r['epoch_setup_s']:.3f}"}
        for c in collators:
            row[f"{c} names/s"] = f"{r[c]['names_per_s']:,.0f}"
            row[f"{c} vs {sizes[0] // 1000}k"] = f"{r[c]['ratio_vs_smallest']:.2f}"
        table.append(row)
    print()
    print_table(table, list(table[0]))
    load = os.getloadavg()
    print(f"\nload: medians over {args.rounds} fresh processes per size; throughput: medians over {args.cycles} "
          f"interleaved windows (ratio: per window cycle, then median); load average at the end: "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    write_json(args.json, {"benchmark": "bench_scale", "machine": machine(), "loadavg_end": load,
                           "generated_s": gen_s, "file_bytes": big.stat().st_size,
                           "settings": {"window": args.window, "cycles": args.cycles, "warmup": args.warmup,
                                        "batch_size": args.batch_size, "collators": args.collators,
                                        "threads": args.threads, "rounds": args.rounds, "seed": 0},
                           "summary": summary, "load_runs": {str(n): runs[n] for n in sizes},
                           "side_by_side": sbs})
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
