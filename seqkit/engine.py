"""The training engine: assembles a run from the registries and trains it.

    dataset -> split -> encoder.fit(train) -> sampler + collator -> cell -> task model
    -> optimiser/schedule -> per-epoch evaluation -> metrics.json, history.jsonl,
    checkpoint.pt and the task's plots in ``out``.

It knows no concrete dataset, cell, collator or task: all of them come from the
registries by name. Python use::

    from seqkit.engine import RunConfig, train
    metrics = train(RunConfig(data="names/", epochs=5, out="runs/x"))

A task may change the defaults (``Task.defaults``: seq2seq trains on ``cmudict`` with its
own sizes). ``RunConfig.for_task("seq2seq", epochs=3)`` takes them explicitly; ``train()``
applies them to every field a plain ``RunConfig(task=...)`` left at the global default.
"""
from __future__ import annotations

import functools
import json
import math
import os
import platform
import random
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from . import __version__, distributed, registry
from .checkpoint import atomic_write_json
from .checkpoint import load as load_checkpoint
from .checkpoint import rng_state, set_rng_state
from .checkpoint import save as save_checkpoint
from .data import PairDataset, check_on_bad_line
from .errors import ConfigError, DataError, NumericalError, SeqkitError
from .optim import LeanAdam, LeanAdamW
from .sampling import BucketBatchSampler, padding_waste

OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("onecycle", "cosine", "none")
BALANCE = ("none", "sampler", "loss")
DEVICES = ("auto", "cpu", "cuda")
NAN_POLICIES = ("error", "skip")
#: --precision: float32 throughout, bfloat16 autocast for the matrix products, or auto
#: (bf16 where the hardware multiplies bf16 natively, see :func:`resolve_precision`)
PRECISIONS = ("fp32", "bf16", "auto")


@dataclass
class RunConfig:
    """Every option of a run. The defaults are the configuration the README reports."""

    task: str = "classify"
    dataset: str = "name2lang"
    data: str | None = None
    encoder: str = "index"
    collator: str = "pack"
    cell: str = "gru"
    hidden_size: int = 128
    layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.0
    head_dropout: float = 0.3
    input_dropout: float = 0.3
    embedding_dim: int = 64
    epochs: int = 12
    batch_size: int = 64
    lr: float = 3e-3
    optimizer: str = "adamw"
    weight_decay: float = 0.05
    momentum: float = 0.9
    schedule: str = "onecycle"
    clip: float | None = 1.0
    label_smoothing: float = 0.1
    ema: float = 0.0
    precision: str = "fp32"
    balance: str = "none"
    bucket: bool = True
    test_size: float = 0.2
    split_seed: int = 0
    dedup: bool = False
    seed: int = 0
    device: str = "auto"
    workers: int = 0
    threads: int | None = None
    on_bad_line: str = "error"
    nan_policy: str = "error"
    checkpoint_every: int = 0
    resume: bool = False
    overwrite: bool = False
    out: str = "runs/latest"
    quiet: bool = False
    dataset_options: dict = field(default_factory=dict)
    encoder_options: dict = field(default_factory=dict)
    collator_options: dict = field(default_factory=dict)
    cell_options: dict = field(default_factory=dict)
    task_options: dict = field(default_factory=dict)

    @classmethod
    def for_task(cls, task: str, **values) -> "RunConfig":
        """The global defaults, then ``task``'s own defaults (``Task.defaults``), then ``values``."""
        return apply_task_defaults(cls(task=task, **values), explicit=set(values))

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def validate(self) -> "RunConfig":
        def need(cond: bool, msg: str) -> None:
            if not cond:
                raise ConfigError(msg)

        need(self.optimizer in OPTIMIZERS,
             f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        need(self.schedule in SCHEDULES, f"--schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        need(self.balance in BALANCE, f"--balance must be one of {', '.join(BALANCE)}, got {self.balance!r}")
        need(self.device in DEVICES or self.device.startswith("cuda:"),
             f"--device must be auto, cpu or cuda, got {self.device!r}")
        need(self.epochs >= 1, f"--epochs must be at least 1, got {self.epochs}")
        need(self.batch_size >= 1, f"--batch-size must be at least 1, got {self.batch_size}")
        need(self.hidden_size >= 1, f"--hidden-size must be at least 1, got {self.hidden_size}")
        need(self.layers >= 1, f"--layers must be at least 1, got {self.layers}")
        need(self.embedding_dim >= 1, f"--embedding-dim must be at least 1, got {self.embedding_dim}")
        need(self.lr > 0 and math.isfinite(self.lr), f"--lr must be a positive number, got {self.lr}")
        need(0.0 <= self.dropout < 1.0, f"--dropout must be in [0, 1), got {self.dropout}")
        need(0.0 <= self.head_dropout < 1.0, f"--head-dropout must be in [0, 1), got {self.head_dropout}")
        need(0.0 <= self.input_dropout < 1.0, f"--input-dropout must be in [0, 1), got {self.input_dropout}")
        need(self.clip is None or self.clip > 0, f"--clip must be positive, got {self.clip}")
        need(self.workers >= 0, f"--workers must be >= 0, got {self.workers}")
        need(self.threads is None or self.threads >= 1, f"--threads must be >= 1, got {self.threads}")
        need(0.0 <= self.ema < 1.0, f"--ema must be in [0, 1) (0: off), got {self.ema}")
        need(0.0 <= self.label_smoothing < 1.0, f"--label-smoothing must be in [0, 1), got {self.label_smoothing}")
        need(self.checkpoint_every >= 0, f"--checkpoint-every must be >= 0 (0: every epoch only), got "
                                         f"{self.checkpoint_every}")
        need(not (self.resume and self.overwrite), "--resume and --overwrite exclude each other; pass one")
        check_on_bad_line(self.on_bad_line)
        need(self.precision in PRECISIONS, f"--precision must be one of {', '.join(PRECISIONS)}, "
                                           f"got {self.precision!r}")
        need(self.nan_policy in NAN_POLICIES, f"--nan-policy must be one of {', '.join(NAN_POLICIES)}, "
                                              f"got {self.nan_policy!r}")
        return self


def make_task(config: RunConfig):
    """The configured task, built with ``config.task_options`` (an option it does not take is
    a one-line PluginError naming the task)."""
    return registry.tasks.create(config.task, **config.task_options)


def apply_task_defaults(config: RunConfig, explicit: set[str] | None = None) -> RunConfig:
    """``config`` with its task's :attr:`~seqkit.tasks.Task.defaults` for every field not in
    ``explicit`` (None: every field still equal to the global default)."""
    glob = {f.name: f.default for f in fields(RunConfig) if not callable(f.default_factory)}
    if explicit is None:
        explicit = {k for k, v in glob.items() if getattr(config, k) != v}
    changes = {k: v for k, v in getattr(make_task(config), "defaults", {}).items()
               if k in glob and k not in explicit and k != "task" and getattr(config, k) != v}
    resolved = replace(config, **changes)
    resolved._task_defaults_applied = changes  # train() applies them only once
    return resolved


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available; asking for CUDA without it is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            why = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA device is visible"
            raise ConfigError(f"--device {name}: CUDA is not available ({why}, torch {torch.__version__}); "
                              f"use --device cpu or --device auto")
        return torch.device(name)
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def create(reg, name: str, *args, **options):
    """``reg.create``, with a factory's refusal (ValueError, NotImplementedError) as a
    ConfigError that names the component and its plugin."""
    try:
        return reg.create(name, *args, **options)
    except (ValueError, NotImplementedError) as exc:
        raise ConfigError(f"{reg.kind} '{name}' (plugin '{reg.plugin(name)}') refused its options: "
                          f"{exc or type(exc).__name__}") from None


def load_dataset(config: RunConfig) -> PairDataset:
    ds = create(registry.datasets, config.dataset, path=config.data, on_bad_line=config.on_bad_line,
                **config.dataset_options)
    if len(ds) == 0:
        raise DataError(f"dataset '{config.dataset}' is empty; check --data")
    if not hasattr(ds, "labels"):  # not classification (e.g. sequence pairs): the task splits it
        return ds
    if not isinstance(ds, PairDataset):  # any Dataset of (text, label) pairs will do
        pairs = [ds[i] for i in range(len(ds))]
        ds = PairDataset([p[0] for p in pairs], [p[1] for p in pairs], labels=ds.labels,
                         source=getattr(ds, "source", config.dataset))
    return ds


def build_cell_factory(config: RunConfig) -> Callable[[int], nn.Module]:
    def make_cell(input_size: int, **overrides) -> nn.Module:
        """``overrides``: hidden_size, num_layers, bidirectional other than the configured ones."""
        sizes = {"hidden_size": config.hidden_size, "num_layers": config.layers,
                 "bidirectional": config.bidirectional, **overrides}
        try:
            return registry.cells.create(config.cell, input_size=input_size, dropout=config.dropout, **sizes,
                                         **config.cell_options)
        except (ValueError, NotImplementedError) as exc:
            hint = " (try --unidirectional)" if config.bidirectional else (" (try --layers 1)" if config.layers > 1
                                                                          else "")
            raise ConfigError(f"cell '{config.cell}' (plugin '{registry.cells.plugin(config.cell)}') refused its "
                              f"options: {exc}{hint}") from None
    return make_cell


def build_model(task, encoder, labels, config: RunConfig) -> nn.Module:
    return task.build_model(encoder=encoder, make_cell=build_cell_factory(config), labels=labels, config=config)


def make_optimizer(model: nn.Module, config: RunConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    try:  # the fused kernel (CPU and CUDA, torch >= 2.4) is 3x faster than the per-tensor loop,
        # and seqkit.optim's subclasses take it with less Python per step (same results)
        cls = LeanAdam if config.optimizer == "adam" else LeanAdamW
        return cls(params, lr=config.lr, weight_decay=config.weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):
        cls = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
        return cls(params, lr=config.lr, weight_decay=config.weight_decay)


def clip_gradients(params: list[torch.Tensor], max_norm: float) -> float:
    """The total 2-norm of the gradients of ``params``, which are scaled by
    ``max_norm / norm`` when that is below 1 (``max_norm = inf``: measured only).

    The result and the scaling of ``nn.utils.clip_grad_norm_(params, max_norm, foreach=True)``
    with fewer operations per step when every gradient has one device and dtype (the usual
    case: one foreach norm, one stack, one norm, and one foreach multiply only where the
    factor is not 1). Other cases go to torch's function.
    """
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    first = grads[0]
    if any(g.device != first.device or g.dtype != first.dtype or g.is_sparse for g in grads):
        return float(nn.utils.clip_grad_norm_(params, max_norm))
    total = float(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))))
    # torch multiplies by min(1, max_norm / (total + 1e-6)): by 1 (nothing to do) unless the
    # norm is above max_norm or not finite (then by 0 or NaN, as torch does)
    if math.isfinite(max_norm) and not total <= max_norm:
        coef = max_norm / (total + 1e-6)
        torch._foreach_mul_(grads, min(coef, 1.0) if math.isfinite(coef) else coef)
    return total


def make_schedule(opt: torch.optim.Optimizer, config: RunConfig, steps_per_epoch: int):
    total = max(1, config.epochs * steps_per_epoch)
    if config.schedule == "onecycle":
        # OneCycleLR needs at least one step in each phase: short runs warm up over 2 steps
        pct = 0.25 if total < 4 else min(0.5, max(0.25, 2 / total))
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=total, pct_start=pct)
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    return None


class _Progress:
    """tqdm over the batches of an epoch; silent when quiet or not a TTY."""

    def __init__(self, total: int, desc: str, quiet: bool):
        self.bar = None
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, file=sys.stderr, leave=False, dynamic_ncols=True)

    def update(self, loss: float, rate: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.3f}", names_s=f"{rate:,.0f}", refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _log(config: RunConfig, msg: str) -> None:
    if not config.quiet:
        print(msg, file=sys.stderr, flush=True)


@functools.lru_cache(maxsize=None)
def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` multiplies bfloat16 natively: a CUDA GPU that supports it, or a CPU
    with AVX512-BF16 or AMX-BF16 (read from /proc/cpuinfo; elsewhere: no). Without them
    bf16 products are emulated and slower than float32. Asked once per device."""
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device.type != "cpu":
        return False
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """``fp32`` or ``bf16`` for ``--precision`` on ``device`` (``auto``: bf16 where native)."""
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


def autocast(precision: str, device: torch.device):
    """The context of a forward pass at ``--precision``: ``bf16`` is ``torch.autocast`` with
    bfloat16 on ``device`` (matrix products and the fused GRU's GEMMs in bf16, weights,
    optimizer state, losses and softmaxes in float32); ``fp32`` changes nothing; ``auto``
    is one of them (:func:`resolve_precision`)."""
    precision = resolve_precision(precision, device)
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def evaluate_batches(task, model: nn.Module, loader, device: torch.device, precision: str = "fp32", *,
                     final: bool = True) -> dict:
    model.eval()
    with torch.no_grad(), autocast(precision, device):
        return task.evaluate(model, (b.to(device) for b in loader), device, final=final)


class InProcessLoader:
    """The batches of ``DataLoader(dataset, batch_sampler=sampler, collate_fn=collator)`` with
    no workers and no pinning, made in this process without DataLoader's per-batch machinery.

    Each batch is ``collator(dataset.__getitems__(indices))`` (or ``[dataset[i] for i in
    indices]``), exactly as DataLoader's fetcher makes it. Starting an iteration draws one
    number from torch's global generator, as DataLoader's iterator does for its base seed,
    so a run's random stream, and hence its results, are those it has with DataLoader.
    """

    def __init__(self, dataset, batch_sampler, collate_fn):
        self.dataset, self.batch_sampler, self.collate_fn = dataset, batch_sampler, collate_fn

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def __iter__(self):
        # eagerly, as DataLoader does in iter(): the sampler's iterator, then the seed draw
        # (a resume restores the generator's state after iter(), before the first batch)
        order = iter(self.batch_sampler)
        torch.empty((), dtype=torch.int64).random_()
        return self._batches(order)

    def _batches(self, order):
        getitems = getattr(self.dataset, "__getitems__", None)
        for indices in order:
            items = getitems(indices) if getitems else [self.dataset[i] for i in indices]
            yield self.collate_fn(items)


def make_loader(dataset, collator, sampler, config: RunConfig, device: torch.device):
    """Batches of ``dataset``: DataLoader with ``--workers`` processes (and pinned memory for
    CUDA), else an :class:`InProcessLoader` (the same batches with less per-batch work)."""
    if config.workers == 0 and device.type != "cuda":
        return InProcessLoader(dataset, sampler, collator)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collator, num_workers=config.workers,
                      pin_memory=device.type == "cuda", persistent_workers=config.workers > 0)


#: RunConfig fields that control how a run is executed, not what it computes: they may
#: differ between a run and its --resume.
RUN_CONTROL = ("out", "quiet", "workers", "threads", "device", "resume", "overwrite", "checkpoint_every")
STATE_FILE = "state.pt"
CHECKPOINT_FILE = "checkpoint.pt"


def config_differences(saved: dict, config: "RunConfig") -> list[str]:
    """``option: saved -> now`` for every computing option that differs."""
    now = asdict(config)
    diffs = []
    for key in sorted(set(saved) | set(now)):
        if key in RUN_CONTROL:
            continue
        a, b = saved.get(key, "<unset>"), now.get(key, "<unset>")
        if a != b:
            diffs.append(f"{key.replace('_', '-')} {a!r} -> {b!r}")
    return diffs


def _data_fingerprint(train_ds, test_ds, labels) -> str:
    """What a resume must find unchanged: labels, split sizes, lengths and label codes."""
    import hashlib

    h = hashlib.sha256()
    h.update(json.dumps(list(labels)).encode())
    for part in (train_ds, test_ds):
        h.update(np.int64(len(part)).tobytes())
        h.update(np.ascontiguousarray(part.lengths(), dtype=np.int64).tobytes())
        if hasattr(part, "label_indices"):
            h.update(np.ascontiguousarray(part.label_indices(), dtype=np.int64).tobytes())
    return h.hexdigest()


def _clean_partial_writes(out: str) -> None:
    """Remove temporary files an interrupted atomic write left behind."""
    for name in os.listdir(out):
        if name.startswith(".tmp-"):
            try:
                os.unlink(os.path.join(out, name))
            except OSError:
                pass


def prepare_run_dir(config: "RunConfig") -> dict | None:
    """Decide what ``config.out`` holds: ``None`` (start afresh) or the state to resume.

    An existing run with another configuration is refused unless ``overwrite``; an
    interrupted run with this configuration needs ``resume`` (or ``overwrite``).
    """
    out = config.out
    if os.path.exists(out) and not os.path.isdir(out):
        raise ConfigError(f"--out {out}: exists and is not a directory; choose another --out")
    state_path, ckpt_path = os.path.join(out, STATE_FILE), os.path.join(out, CHECKPOINT_FILE)
    existing = state_path if os.path.exists(state_path) else ckpt_path if os.path.exists(ckpt_path) else None
    if existing is None:
        if config.resume:
            _log(config, f"resume: {out} holds no run yet; starting a new one")
        return None
    _clean_partial_writes(out)
    if config.overwrite:
        for path in (state_path, ckpt_path):
            if os.path.exists(path):
                os.unlink(path)
        return None
    saved = load_checkpoint(existing)
    diffs = config_differences(saved.get("config") or {}, config)
    if diffs:
        raise ConfigError(f"--out {out} holds a run with another configuration ({'; '.join(diffs[:4])}"
                          f"{'; ...' if len(diffs) > 4 else ''}); choose another --out, rerun with the same "
                          f"options, or pass --overwrite to replace it")
    interrupted = existing == state_path and not saved.get("complete", False)
    if not config.resume:
        if interrupted:
            raise ConfigError(f"--out {out} holds an interrupted run (epoch {saved['epoch']}, step {saved['step']} "
                              f"of {config.epochs} epochs); pass --resume to continue it, or --overwrite to start "
                              f"over")
        return None  # a finished run with the same options: run it again
    if existing == ckpt_path:
        saved = {"complete": True, "config": saved.get("config")}
    return saved


def _restore_rng_states(saved_rng: list, world) -> None:
    state = saved_rng[world.rank] if world.rank < len(saved_rng) else None
    if state is None:
        raise ConfigError(f"the saved run state has RNG states for {len(saved_rng)} processes, this is rank "
                          f"{world.rank} of {world.size}; resume with the same number of processes")
    set_rng_state(state)


def train(config: RunConfig, *, on_epoch: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Run a whole training as configured; returns the final metrics (also in metrics.json).

    Crash safety: the training state (model, optimizer, schedule, EMA, RNG states,
    sampler position, history, counters) is written atomically to ``out/state.pt`` after
    every epoch and every ``checkpoint_every`` steps; ``resume=True`` continues from it and
    ends, on CPU, with the same weights and metrics bit for bit as an uninterrupted run.
    Under torchrun the run is data-parallel (see :mod:`seqkit.distributed`).
    """
    if getattr(config, "_task_defaults_applied", None) is None:
        config = apply_task_defaults(config)
    config.validate()
    device = resolve_device(config.device)
    world = distributed.init(device)
    device = distributed.device_for(world, device)
    try:
        return _train(config, world, device, on_epoch)
    finally:
        distributed.shutdown(world)


def _train(config: RunConfig, world, device: torch.device, on_epoch) -> dict[str, Any]:
    if not world.main:
        config = replace(config, quiet=True)
    if config.threads:
        torch.set_num_threads(config.threads)
    seed_everything(config.seed)
    t_start = time.perf_counter()
    resume_state = prepare_run_dir(config) if world.main else None
    resume_state = distributed.broadcast_object(world, resume_state)
    if resume_state is not None and resume_state.get("complete"):
        _log(config, f"resume: {config.out} holds a finished run; nothing to do")
        with open(os.path.join(config.out, "metrics.json")) as f:
            return json.load(f)

    applied = getattr(config, "_task_defaults_applied", None)
    if applied:
        _log(config, f"task {config.task} defaults: " + ", ".join(f"{k}={v}" for k, v in applied.items()))
    ds = load_dataset(config)
    labels = list(getattr(ds, "labels", None) or [])
    task = make_task(config)
    train_ds, test_ds, split_report = task.split(ds, config)
    _log(config, f"data: {len(ds)} examples" + (f", {len(labels)} labels" if labels else "") + f" from {ds.source}; "
                 f"split train {len(train_ds)} / test {len(test_ds)}"
                 + (f" (dedup: {split_report.get('duplicates_dropped', 0)} duplicate pairs dropped)" if config.dedup
                    else f" ({split_report.get('test_texts_seen_in_train', 0)} test texts also in train)"))

    encoder = create(registry.encoders, config.encoder, **config.encoder_options)
    encoder.fit(train_ds.texts)
    task.setup(train_ds, config)
    collator = task.make_collator(encoder, labels or None, config)

    model = build_model(task, encoder, labels, config).to(device)
    precision = resolve_precision(config.precision, device)  # fp32 or bf16 (auto: what the device does natively)
    n_params = sum(p.numel() for p in model.parameters())
    if world.distributed:  # the same initial weights everywhere (DDP broadcasts rank 0's), own dropout per rank
        torch.manual_seed(config.seed + 1_000_003 * world.rank)
    weights = task.sample_weights(train_ds, config)
    sampler = BucketBatchSampler(train_ds.lengths(), config.batch_size, bucket=config.bucket, shuffle=True,
                                 seed=config.seed, weights=weights, num_replicas=world.size, rank=world.rank)
    eval_sampler = BucketBatchSampler(test_ds.lengths(), max(config.batch_size, 512), bucket=True, shuffle=False,
                                      num_replicas=world.size, rank=world.rank)
    train_loader = make_loader(train_ds, collator, sampler, config, device)
    test_loader = make_loader(test_ds, collator, eval_sampler, config, device)
    full_test_loader = make_loader(test_ds, collator, BucketBatchSampler(
        test_ds.lengths(), max(config.batch_size, 512), bucket=True, shuffle=False), config, device) \
        if world.distributed else test_loader
    waste = padding_waste(sampler.batches(), train_ds.lengths())
    _log(config, f"model: {config.cell} x{config.layers}{' bidirectional' if config.bidirectional else ''}, "
                 f"hidden {config.hidden_size}, {n_params:,} parameters, on {device}"
                 + (", bf16 mixed precision" if precision == "bf16" else "")
                 + f"; batches of {config.batch_size}"
                 + (f" x {world.size} processes ({world.backend})" if world.distributed else "")
                 + f", padding waste {waste:.1%}{' (bucketed)' if config.bucket else ''}")

    ddp = model
    if world.distributed:
        from torch.nn.parallel import DistributedDataParallel

        ddp = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    opt = make_optimizer(model, config)
    trainable = [p for group in opt.param_groups for p in group["params"]]  # what the optimizer updates
    clip_and_step = getattr(opt, "clip_and_step", None)  # seqkit.optim's one-op clip + step
    max_norm = config.clip or math.inf
    sched = make_schedule(opt, config, len(sampler))
    # With --ema, an exponential moving average of the weights is what gets evaluated and saved.
    averaged = torch.optim.swa_utils.AveragedModel(
        model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(config.ema)) if config.ema else None
    final_model = averaged.module if averaged is not None else model
    fingerprint = _data_fingerprint(train_ds, test_ds, labels)

    history: list[dict] = []
    counters = {"train_seconds": 0.0, "names_seen": 0, "tokens_seen": 0, "nonfinite": 0}
    progress = {"loss_sum": 0.0, "n_sum": 0, "epoch_names": 0, "epoch_tokens": 0, "epoch_seconds": 0.0}
    metrics: dict[str, Any] = {}
    start_epoch, start_step = 1, 0
    if resume_state is not None:
        if resume_state.get("data_fingerprint") != fingerprint:
            raise ConfigError(f"--out {config.out}: the data changed since this run started (other examples, "
                              f"labels or split); resume with the same data, or pass --overwrite to start over")
        if int(resume_state.get("world_size", 1)) != world.size:
            raise ConfigError(f"--out {config.out}: the run was started with {resume_state.get('world_size', 1)} "
                              f"process(es), not {world.size}; resume with the same number (--nproc)")
        model.load_state_dict(resume_state["model"])
        opt.load_state_dict(resume_state["optimizer"])
        if sched is not None:
            sched.load_state_dict(resume_state["scheduler"])
        if averaged is not None:
            averaged.load_state_dict(resume_state["ema"])
        history = json.loads(resume_state["history"])
        counters.update(resume_state["counters"])
        progress.update(resume_state["progress"])
        metrics = json.loads(resume_state["last_metrics"])
        start_epoch, start_step = int(resume_state["epoch"]), int(resume_state["step"])
        _log(config, f"resume: continuing {config.out} at epoch {start_epoch}, step {start_step} of {len(sampler)}")

    history_path = os.path.join(config.out, "history.jsonl")
    state_path = os.path.join(config.out, STATE_FILE)
    if world.main:
        os.makedirs(config.out, exist_ok=True)
        with open(history_path, "w") as f:  # exactly the epochs the state holds
            f.writelines(json.dumps(r) + "\n" for r in history)

    def save_state(epoch: int, step: int) -> None:
        """The whole training state, so that a resume continues bit for bit (rank 0 writes)."""
        rngs = distributed.all_gather_object(world, rng_state())
        if not world.main:
            return
        save_checkpoint(state_path, {
            "kind": "train-state", "complete": False, "epoch": epoch, "step": step, "world_size": world.size,
            "config": asdict(config), "data_fingerprint": fingerprint,
            "model": model.state_dict(), "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict() if sched is not None else None,
            "ema": averaged.state_dict() if averaged is not None else None,
            "rng": rngs, "history": json.dumps(history), "counters": dict(counters),
            "progress": dict(progress), "last_metrics": json.dumps(metrics), "seqkit_version": __version__,
        })

    if resume_state is not None and start_step == 0:
        _restore_rng_states(resume_state["rng"], world)  # saved at an epoch's end, before the next loader
    global_step = sum(len(sampler) for _ in range(1, start_epoch)) + start_step
    for epoch in range(start_epoch, config.epochs + 1):
        first = start_step if epoch == start_epoch else 0
        sampler.set_epoch(epoch, start=first)
        global_sizes = [len(b) for b in sampler.global_batches()]
        model.train()
        bar = _Progress(len(sampler) - first, f"epoch {epoch}/{config.epochs}", config.quiet)
        if first == 0:
            progress.update(loss_sum=0.0, n_sum=0, epoch_names=0, epoch_tokens=0, epoch_seconds=0.0)
        batches = iter(train_loader)
        if resume_state is not None and first > 0 and epoch == start_epoch:
            _restore_rng_states(resume_state["rng"], world)  # saved mid-epoch, after the loader was made
        t0 = time.perf_counter() - progress["epoch_seconds"]
        for step, batch in enumerate(batches, start=first + 1):
            batch = batch.to(device, non_blocking=True)
            with autocast(precision, device):
                loss = task.loss(ddp, batch)
            if world.distributed:  # DDP averages over ranks: weight by share so it is the global batch's mean
                loss = loss * (batch.size * world.size / global_sizes[step - 1 - first])
            opt.zero_grad(set_to_none=True)
            loss_value = float(loss.detach())
            finite = math.isfinite(loss_value)
            if world.distributed:  # every rank must take the same decision
                finite = distributed.all_reduce(world, [0.0 if finite else 1.0], op="max", device=device)[0] == 0
            bad = None if finite else "loss"
            stepped = False
            if bad is None:
                loss.backward()
                # LeanAdam(W) clip and step in one compiled op where it applies (None elsewhere)
                norm = clip_and_step(max_norm) if clip_and_step is not None else None
                stepped = norm is not None
                if not stepped:
                    norm = clip_gradients(trainable, max_norm)
                bad = None if math.isfinite(norm) else "gradient"
            global_step += 1
            if bad is not None:
                if config.nan_policy == "error":
                    raise NumericalError(
                        f"non-finite {bad} at epoch {epoch}, step {step} of {len(sampler)} (lr "
                        f"{opt.param_groups[0]['lr']:.3g}); lower --lr, clip gradients with --clip 1.0, or pass "
                        f"--nan-policy skip to skip such steps")
                counters["nonfinite"] += 1  # --nan-policy skip: no update from this batch
                opt.zero_grad(set_to_none=True)
                if sched is not None:
                    sched.step()
            else:
                if not stepped:
                    opt.step()
                if sched is not None:
                    sched.step()
                if averaged is not None:
                    averaged.update_parameters(model)
                progress["loss_sum"] += loss_value * batch.size if not world.distributed else \
                    loss_value * global_sizes[step - 1 - first] / world.size
                progress["n_sum"] += batch.size
                progress["epoch_names"] += batch.size
                progress["epoch_tokens"] += batch.tokens
                bar.update(progress["loss_sum"] / progress["n_sum"],
                           progress["epoch_names"] / max(1e-9, time.perf_counter() - t0))
            if config.checkpoint_every and global_step % config.checkpoint_every == 0 and step < len(sampler):
                progress["epoch_seconds"] = time.perf_counter() - t0
                save_state(epoch, step)
        bar.close()
        epoch_seconds = time.perf_counter() - t0
        counters["train_seconds"] += epoch_seconds
        loss_sum, n_sum, epoch_names, epoch_tokens = distributed.all_reduce(
            world, [progress["loss_sum"], progress["n_sum"], progress["epoch_names"], progress["epoch_tokens"]],
            device=device)
        counters["names_seen"] += int(epoch_names)
        counters["tokens_seen"] += int(epoch_tokens)
        metrics = evaluate_distributed(task, final_model, test_loader, full_test_loader, device, world,
                                       precision, final=epoch == config.epochs)
        record = {"epoch": epoch, "train_loss": loss_sum / max(1, n_sum), "test_loss": metrics["loss"],
                  **{k: v for k, v in task.epoch_record(metrics).items() if k != "loss"},
                  "lr": opt.param_groups[0]["lr"], "epoch_seconds": epoch_seconds,
                  "names_per_second": epoch_names / max(1e-9, epoch_seconds),
                  "tokens_per_second": epoch_tokens / max(1e-9, epoch_seconds),
                  "nonfinite_steps_skipped": counters["nonfinite"]}
        history.append(record)
        if world.main:
            with open(history_path, "a") as f:
                f.write(json.dumps(record) + "\n")
        _log(config, f"epoch {epoch}/{config.epochs}  train_loss {record['train_loss']:.4f}  "
                     f"test_loss {record['test_loss']:.4f}  {task.headline} {metrics.get(task.headline, 0):.4f}  "
                     f"{record['names_per_second']:,.0f} names/s  {record['tokens_per_second']:,.0f} tokens/s")
        progress.update(loss_sum=0.0, n_sum=0, epoch_names=0, epoch_tokens=0, epoch_seconds=0.0)
        save_state(epoch + 1, 0)
        if on_epoch is not None:
            on_epoch(record)

    metrics = task.finalize(metrics, train_dataset=train_ds, test_dataset=test_ds)
    metrics.update({
        "epochs": config.epochs,
        "precision": precision,
        "train_seconds": counters["train_seconds"],
        "wall_seconds": time.perf_counter() - t_start,
        "names_per_second": counters["names_seen"] / max(1e-9, counters["train_seconds"]),
        "tokens_per_second": counters["tokens_seen"] / max(1e-9, counters["train_seconds"]),
        "parameters": n_params,
        "padding_waste": waste,
        "nonfinite_steps_skipped": counters["nonfinite"],
        "world_size": world.size,
        "global_batch_size": config.batch_size * world.size,
        "resumed": resume_state is not None,
        "split": split_report,
        "data": {"source": ds.source, "examples": len(ds), "skipped_lines": ds.skipped.count,
                 "skipped_examples": list(ds.skipped.examples)},
        "environment": {"device": str(device), "torch": torch.__version__, "seqkit": __version__,
                        "threads": torch.get_num_threads(), "python": platform.python_version(),
                        "machine": platform.machine(), "cpu_count": os.cpu_count(),
                        "backend": world.backend},
        "config": asdict(config),
    })
    if world.main:
        save_checkpoint(os.path.join(config.out, CHECKPOINT_FILE), {
            "model": {k: v.detach().cpu() for k, v in final_model.state_dict().items()},
            "encoder": {"name": config.encoder, "state": encoder.state_dict()},
            "labels": labels,
            "task_state": task.state_dict(),
            "config": asdict(config),
            "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float))},
            "seqkit_version": __version__,
        })
        atomic_write_json(os.path.join(config.out, "metrics.json"), metrics)
        task.write_artifacts(config.out, metrics, history)
        if os.path.exists(state_path):  # finished: checkpoint.pt and metrics.json are the run now
            os.unlink(state_path)
    distributed.barrier(world)
    return metrics


def evaluate_distributed(task, model, shard_loader, full_loader, device, world, precision: str = "fp32", *,
                         final: bool = True) -> dict:
    """Metrics on the test set; with several processes each evaluates its share and the
    task's partial results are gathered (tasks without :meth:`Task.evaluate_part` evaluate
    the whole set on every rank)."""
    if not world.distributed:
        return evaluate_batches(task, model, full_loader, device, precision, final=final)
    model.eval()
    with torch.no_grad(), autocast(precision, device):
        part = task.evaluate_part(model, (b.to(device) for b in shard_loader), device, final=final)
        if part is None:
            return task.evaluate(model, (b.to(device) for b in full_loader), device, final=final)
    return task.reduce_parts(distributed.all_gather_object(world, part))


@dataclass
class Loaded:
    """A model rebuilt from a checkpoint, ready for prediction or evaluation."""

    model: nn.Module
    encoder: Any
    labels: list[str]
    config: RunConfig
    task: Any
    collator: Any


def load_run(path: str, device: str = "cpu", *, task_options: dict | None = None) -> Loaded:
    """Rebuild task, encoder, cell and model from ``checkpoint.pt`` (weights only).
    ``task_options`` override the run's own (e.g. ``{"beam": 10}`` for a seq2seq run)."""
    ckpt = load_checkpoint(path)
    try:
        config = RunConfig.from_dict(ckpt["config"])
        if task_options:
            config = replace(config, task_options={**config.task_options, **task_options})
        encoder = registry.encoders.create(ckpt["encoder"]["name"])
        encoder.load_state_dict(ckpt["encoder"]["state"])
        labels = list(ckpt["labels"])
        task = make_task(config)
        task.load_state_dict(ckpt.get("task_state") or {})
        collator = task.make_collator(encoder, labels or None, config)
        model = build_model(task, encoder, labels, config)
        model.load_state_dict(ckpt["model"])
    except SeqkitError:
        raise
    except (KeyError, RuntimeError, TypeError) as exc:
        from .errors import CheckpointError

        raise CheckpointError(f"{path}: checkpoint does not match this seqkit and its plugins ({exc}); "
                              f"retrain with `seqkit run`") from None
    dev = resolve_device(device)
    model.to(dev).eval()
    return Loaded(model, encoder, labels, config, task, collator)


def predict(loaded: Loaded, texts: list[str], *, top_k: int = 3, **options) -> list[Any]:
    """Predictions for ``texts`` (in order); the task defines their form and ``options`` (e.g. ``beam``)."""
    for i, t in enumerate(texts):
        if not loaded.encoder.encode(t):
            raise DataError(f"text {i} ({t!r}) is empty after encoding; give a non-empty name")
    device = next(loaded.model.parameters()).device
    batch = loaded.collator([(t, None) for t in texts]).to(device)
    with torch.no_grad(), autocast(loaded.config.precision, device):
        return loaded.task.predict(loaded.model, batch, labels=loaded.labels, top_k=top_k, **options)


def evaluate_run(loaded: Loaded, data: str | None = None, *, batch_size: int = 512) -> dict[str, Any]:
    """Metrics of a checkpoint on all of ``data`` or, without it, on its run's test split."""
    config = loaded.config
    if data is not None:
        ds = create(registry.datasets, config.dataset, path=data, on_bad_line=config.on_bad_line,
                    **config.dataset_options)
        unknown = sorted(set(getattr(ds, "labels", None) or []) - set(loaded.labels))
        if not loaded.labels:  # not classification: the task scores any (text, target) pairs
            eval_ds = ds
        elif unknown:
            raise DataError(f"{data}: labels {', '.join(unknown)} were not in the training data of this "
                            f"checkpoint (it knows: {', '.join(loaded.labels)})")
        else:
            eval_ds = PairDataset(ds.texts, ds.targets, labels=loaded.labels, source=ds.source)
        where = data
    else:
        ds = load_dataset(config)
        _, eval_ds, _ = loaded.task.split(ds, config)
        where = f"test split of {ds.source}"
    sampler = BucketBatchSampler(eval_ds.lengths(), batch_size, bucket=True, shuffle=False)
    device = next(loaded.model.parameters()).device
    loader = DataLoader(eval_ds, batch_sampler=sampler, collate_fn=loaded.collator)
    metrics = evaluate_batches(loaded.task, loaded.model, loader, device, loaded.config.precision)
    metrics["examples"] = len(eval_ds)
    metrics["evaluated_on"] = where
    return metrics
