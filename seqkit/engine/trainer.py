"""The training loop behind ``seqkit run``: :func:`train` and the :class:`Trainer`.

    dataset -> task.split -> encoder.fit(train) -> task.setup -> collator -> model
    -> optimizer/schedule -> epochs of steps, each followed by an evaluation
    -> metrics.json, history.jsonl, checkpoint.pt, loss.png and the task's artifacts

It knows no concrete dataset, cell, collator or task: all of them come from the
registries by name, and the task gets a :class:`~seqkit.engine.task.TaskContext`.

Reproducibility and resume: :meth:`Trainer.build` makes the run's parts in a fixed order
(seed, data and split, encoder, task setup, collator, model weights, samplers), so the
global random generators are drawn in the same order in every run. The training state is
one :class:`TrainState` (epoch, step, history, counters, the running epoch's sums and the
last metrics) saved with the model, optimizer, schedule, EMA and every RNG state, after
every epoch and every ``--checkpoint-every`` steps; the RNG states are restored at the one
point where they were saved (before the epoch's loader at an epoch boundary, after it
mid-epoch), so a resumed run ends bit for bit where an uninterrupted one does (CPU).
"""
from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import torch

from .. import __version__
from ..data.sampling import BucketBatchSampler, padding_waste
from ..errors import CheckpointError, ConfigError, NumericalError
from . import distributed
from .checkpoint import atomic_write_json, load_weights, one_line, rng_state, run_components, set_rng_state
from .checkpoint import save as save_checkpoint
from .components import (
    clip_gradients,
    load_dataset,
    make_encoder,
    make_optimizer,
    make_schedule,
    resolve_device,
    seed_everything,
)
from .auto import describe, resolve_auto
from .config import RunConfig, applied_task_defaults, apply_task_defaults, config_dict, make_task
from .evaluation import evaluate_distributed
from .loader import make_loader
from .plots import loss_plot
from .precision import autocast, resolve_precision
from .rundir import (
    CHECKPOINT_FILE,
    HISTORY_FILE,
    METRICS_FILE,
    STATE_FILE,
    data_fingerprint,
    fingerprint_matches,
    lock_run_dir,
    prepare_run_dir,
)
from .task import TaskContext
from .threads import default_threads


def train(config: RunConfig, *, on_epoch: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Run a whole training as configured; returns the final metrics (also in metrics.json).

    Crash safety: the training state (model, optimizer, schedule, EMA, RNG states,
    sampler position, history, counters) is written atomically to ``out/state.pt`` after
    every epoch and every ``checkpoint_every`` steps; ``resume=True`` continues from it and
    ends, on CPU, with the same weights and metrics bit for bit as an uninterrupted run.
    Under torchrun the run is data-parallel (see :mod:`seqkit.engine.distributed`).
    ``on_epoch(record)`` is called after each epoch with its history record.
    """
    if not config.task_defaults_applied:
        config = apply_task_defaults(config)
    config = resolve_auto(config).validate()  # concrete names before anything is saved or compared
    device = resolve_device(config.device)
    world = distributed.init(device)
    device = distributed.device_for(world, device)
    try:
        return Trainer(config, world, device, on_epoch).run()
    finally:
        distributed.shutdown(world)


@dataclass
class EpochSums:
    """The running sums of the epoch in progress (saved mid-epoch, zeroed at its start)."""

    loss_sum: float = 0.0
    n_sum: int = 0
    examples: int = 0
    tokens: int = 0
    seconds: float = 0.0


@dataclass
class TrainState:
    """Where a run stands, besides the tensors a resume restores: the next ``epoch`` and
    the ``step`` of it already done, the history, the run's totals and the last metrics."""

    epoch: int = 1
    step: int = 0
    history: list[dict] = field(default_factory=list)
    train_seconds: float = 0.0
    examples_seen: int = 0
    tokens_seen: int = 0
    nonfinite: int = 0
    sums: EpochSums = field(default_factory=EpochSums)
    metrics: dict = field(default_factory=dict)

    def to_saved(self) -> dict:
        """Plain values for state.pt (loaded with ``weights_only=True``)."""
        sums = self.sums
        return {"epoch": self.epoch, "step": self.step, "history": json.dumps(self.history),
                "counters": {"train_seconds": self.train_seconds, "names_seen": self.examples_seen,
                             "tokens_seen": self.tokens_seen, "nonfinite": self.nonfinite},
                "progress": {"loss_sum": sums.loss_sum, "n_sum": sums.n_sum, "epoch_names": sums.examples,
                             "epoch_tokens": sums.tokens, "epoch_seconds": sums.seconds},
                "last_metrics": json.dumps(self.metrics)}

    @classmethod
    def from_saved(cls, saved: dict) -> "TrainState":
        c, p = saved["counters"], saved["progress"]
        return cls(epoch=int(saved["epoch"]), step=int(saved["step"]), history=json.loads(saved["history"]),
                   train_seconds=c["train_seconds"], examples_seen=c["names_seen"], tokens_seen=c["tokens_seen"],
                   nonfinite=c["nonfinite"], sums=EpochSums(p["loss_sum"], p["n_sum"], p["epoch_names"],
                                                            p["epoch_tokens"], p["epoch_seconds"]),
                   metrics=json.loads(saved["last_metrics"]))


class _Progress:
    """tqdm over the batches of an epoch; silent when quiet or not a TTY."""

    def __init__(self, total: int, desc: str, quiet: bool):
        self.bar = None
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, file=sys.stderr, leave=False, dynamic_ncols=True)

    def update(self, loss: float, rate: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.3f}", ex_s=f"{rate:,.0f}", refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class Trainer:
    """One run of ``config`` in this process (one rank of ``world`` when distributed)."""

    def __init__(self, config: RunConfig, world, device: torch.device,
                 on_epoch: Callable[[dict], None] | None = None):
        self.config = config if world.main else replace(config, quiet=True)
        self.world, self.device, self.on_epoch = world, device, on_epoch
        self.state = TrainState()
        self.resumed = False
        self.t_start = time.perf_counter()

    def log(self, msg: str) -> None:
        if not self.config.quiet:
            print(msg, file=sys.stderr, flush=True)

    # -- the run -------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        config = self.config
        torch.set_num_threads(config.threads or default_threads())  # see seqkit.engine.threads
        seed_everything(config.seed)
        self.t_start = time.perf_counter()
        # rank 0 owns --out (the others write nothing): locked from the decision about it
        # to the last file, so that a second run on it is refused instead of interleaving
        lock = lock_run_dir(config.out, self.log) if self.world.main else None
        try:
            saved = prepare_run_dir(config, self.log) if self.world.main else None
            saved = distributed.broadcast_object(self.world, saved)
            if saved is not None and saved.get("complete"):
                self.log(f"resume: {config.out} holds a finished run; nothing to do")
                return self._finished_metrics(saved)
            self.build()
            if saved is not None:
                self.restore(saved)
            self.write_history()
            if saved is not None and self.state.step == 0:
                self._restore_rng(saved["rng"])  # saved at an epoch's end, before the next loader
            start = self.state.epoch
            for epoch in range(start, config.epochs + 1):
                self.train_epoch(epoch, saved if epoch == start else None)
            return self.finish()
        finally:
            if lock is not None:
                lock.release()

    def _finished_metrics(self, saved: dict) -> dict[str, Any]:
        """The metrics of the finished run in --out: metrics.json, else the checkpoint's summary."""
        try:
            with open(os.path.join(self.config.out, METRICS_FILE), encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            return dict(saved.get("metrics") or {})

    def build(self) -> None:
        """Make the run's parts, in the order that fixes its random draws (module docstring)."""
        config, world = self.config, self.world
        defaults = applied_task_defaults(config)
        if defaults:
            self.log(f"task {config.task} defaults: " + ", ".join(f"{k}={v}" for k, v in defaults.items()))
        self.task = task = make_task(config)
        ctx = TaskContext.from_config(config, device=self.device)
        self.dataset = ds = load_dataset(config)
        self.train_ds, self.test_ds, self.split_report = task.split(ds, ctx)
        self._log_data()
        ctx.encoder = self.encoder = make_encoder(config)
        self.encoder.fit(self.train_ds.texts)
        task.setup(self.train_ds, ctx)
        collator = task.make_collator(ctx)
        self.model = task.build_model(ctx).to(self.device)
        self.precision = resolve_precision(config.precision, self.device)  # fp32 or bf16 (auto: native)
        if world.distributed:  # the same initial weights everywhere (DDP broadcasts rank 0's), own dropout per rank
            torch.manual_seed(config.seed + 1_000_003 * world.rank)
        self._make_loaders(collator, task.sample_weights(self.train_ds, ctx))
        self._make_optimizer()
        self.fingerprint = data_fingerprint(self.train_ds, self.test_ds)
        self.components = run_components(config)  # saved with the weights: what to install to load them

    def _log_data(self) -> None:
        config, ds, report = self.config, self.dataset, self.split_report
        labels = getattr(ds, "labels", None) or []
        self.log(f"data: {len(ds)} examples" + (f", {len(labels)} labels" if labels else "") + f" from {ds.source}; "
                 f"split train {len(self.train_ds)} / test {len(self.test_ds)}"
                 + (f" (dedup: {report.get('duplicates_dropped', 0)} duplicate pairs dropped)" if config.dedup
                    else f" ({report.get('test_texts_seen_in_train', 0)} test texts also in train)"))

    def _make_loaders(self, collator, weights) -> None:
        config, world, device = self.config, self.world, self.device
        train_ds, test_ds, eval_batch = self.train_ds, self.test_ds, max(config.batch_size, 512)
        self.sampler = BucketBatchSampler(train_ds.lengths(), config.batch_size, bucket=config.bucket, shuffle=True,
                                          seed=config.seed, weights=weights, num_replicas=world.size, rank=world.rank)
        eval_sampler = BucketBatchSampler(test_ds.lengths(), eval_batch, bucket=True, shuffle=False,
                                          num_replicas=world.size, rank=world.rank)
        self.train_loader = make_loader(train_ds, collator, self.sampler, config.workers, device)
        self.test_loader = make_loader(test_ds, collator, eval_sampler, config.workers, device)
        self.full_test_loader = make_loader(test_ds, collator, BucketBatchSampler(
            test_ds.lengths(), eval_batch, bucket=True, shuffle=False), config.workers, device) \
            if world.distributed else self.test_loader
        self.waste = padding_waste(self.sampler.batches(), train_ds.lengths())
        self.n_params = sum(p.numel() for p in self.model.parameters())
        self.path = path = describe(config, device)
        self.log(f"model: {config.cell} ({path['cell_runs']}) x{config.layers}"
                 f"{' bidirectional' if config.bidirectional else ''}, "
                 f"hidden {config.hidden_size}, {self.n_params:,} parameters, on {device}"
                 + (", bf16 mixed precision" if self.precision == "bf16" else "")
                 + f"; batches of {config.batch_size} by {config.collator} ({path['collator_runs']})"
                 + (f" x {world.size} processes ({world.backend})" if world.distributed else "")
                 + f", padding waste {self.waste:.1%}{' (bucketed)' if config.bucket else ''}")

    def _make_optimizer(self) -> None:
        config, model = self.config, self.model
        self.ddp = model
        if self.world.distributed:
            from torch.nn.parallel import DistributedDataParallel

            self.ddp = DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda"
                                               else None)
        self.opt = make_optimizer(model, config)
        self.trainable = [p for group in self.opt.param_groups for p in group["params"]]  # what the optimizer updates
        self.clip_and_step = getattr(self.opt, "clip_and_step", None)  # seqkit.nn.optim's one-op clip + step
        self.max_norm = config.clip or math.inf
        self.sched = make_schedule(self.opt, config, len(self.sampler))
        # With --ema, an exponential moving average of the weights is what gets evaluated and saved.
        self.averaged = torch.optim.swa_utils.AveragedModel(
            model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(config.ema)) if config.ema else None
        self.final_model = self.averaged.module if self.averaged is not None else model

    # -- saving and resuming -------------------------------------------------------
    def restore(self, saved: dict) -> None:
        """Continue from ``saved`` (state.pt) if it belongs to this run's data and world."""
        config, world = self.config, self.world
        if not fingerprint_matches(saved.get("data_fingerprint"), self.fingerprint, self.train_ds, self.test_ds):
            raise ConfigError(f"--out {config.out}: the data changed since this run started (other examples, texts, "
                              f"labels or split); resume with the same data, or pass --overwrite to start over")
        if int(saved.get("world_size", 1)) != world.size:
            raise ConfigError(f"--out {config.out}: the run was started with {saved.get('world_size', 1)} "
                              f"process(es), not {world.size}; resume with the same number (--nproc)")
        path = os.path.join(config.out, STATE_FILE)
        fix = "resume with the seqkit and plugins that started the run, or pass --overwrite to start over"
        load_weights(self.model, saved.get("model"), path=path, what="weights", fix=fix)
        if self.averaged is not None:
            load_weights(self.averaged, saved.get("ema"), path=path, what="EMA weights", fix=fix)
        try:
            self.opt.load_state_dict(saved["optimizer"])
            if self.sched is not None:
                self.sched.load_state_dict(saved["scheduler"])
            self.state = TrainState.from_saved(saved)
        except (KeyError, ValueError, TypeError, RuntimeError, AttributeError) as exc:
            what = f"no {exc}" if isinstance(exc, KeyError) else one_line(str(exc), 200)
            raise CheckpointError(f"{path}: the optimizer, schedule or progress it holds do not fit this run "
                                  f"({what}); {fix}") from None
        self.resumed = True
        self.log(f"resume: continuing {config.out} at epoch {self.state.epoch}, step {self.state.step} of "
                 f"{len(self.sampler)}")

    def save_state(self) -> None:
        """The whole training state, so that a resume continues bit for bit (rank 0 writes)."""
        rngs = distributed.all_gather_object(self.world, rng_state())
        if not self.world.main:
            return
        save_checkpoint(os.path.join(self.config.out, STATE_FILE), {
            "kind": "train-state", "complete": False, "epoch": self.state.epoch, "step": self.state.step,
            "world_size": self.world.size, "config": config_dict(self.config), "data_fingerprint": self.fingerprint,
            "model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict() if self.sched is not None else None,
            "ema": self.averaged.state_dict() if self.averaged is not None else None,
            "rng": rngs, **self.state.to_saved(), "seqkit_version": __version__, "components": self.components,
        })

    def _restore_rng(self, saved_rng: list) -> None:
        world = self.world
        state = saved_rng[world.rank] if world.rank < len(saved_rng) else None
        if state is None:
            raise ConfigError(f"the saved run state has RNG states for {len(saved_rng)} processes, this is rank "
                              f"{world.rank} of {world.size}; resume with the same number of processes")
        set_rng_state(state)

    def write_history(self) -> None:
        """history.jsonl with exactly the epochs the state holds (rank 0)."""
        if self.world.main:
            os.makedirs(self.config.out, exist_ok=True)
            with open(os.path.join(self.config.out, HISTORY_FILE), "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in self.state.history)

    # -- an epoch ------------------------------------------------------------------
    def train_epoch(self, epoch: int, saved: dict | None) -> None:
        """Train ``epoch`` from step ``state.step`` (0, or where a resumed epoch stopped),
        then evaluate and save."""
        config, state, sampler = self.config, self.state, self.sampler
        self.first_step = first = state.step  # state.epoch == epoch here
        sampler.set_epoch(epoch, start=first)
        self.global_sizes = [len(b) for b in sampler.global_batches()]
        self.model.train()
        bar = _Progress(len(sampler) - first, f"epoch {epoch}/{config.epochs}", config.quiet)
        if first == 0:
            state.sums = EpochSums()
        batches = iter(self.train_loader)
        if saved is not None and first > 0:
            self._restore_rng(saved["rng"])  # saved mid-epoch, after the loader was made
        self.t0 = time.perf_counter() - state.sums.seconds
        global_step = (epoch - 1) * len(sampler) + first
        for step, batch in enumerate(batches, start=first + 1):
            if self.train_step(batch, epoch, step):
                bar.update(state.sums.loss_sum / state.sums.n_sum,
                           state.sums.examples / max(1e-9, time.perf_counter() - self.t0))
            global_step += 1
            state.step = step
            if config.checkpoint_every and global_step % config.checkpoint_every == 0 and step < len(sampler):
                state.sums.seconds = time.perf_counter() - self.t0
                self.save_state()
        bar.close()
        self.end_epoch(epoch, time.perf_counter() - self.t0)

    def train_step(self, batch, epoch: int, step: int) -> bool:
        """One optimizer step on ``batch``; False when it was skipped (``--nan-policy skip``)."""
        config, world, sums = self.config, self.world, self.state.sums
        batch = batch.to(self.device, non_blocking=True)
        with autocast(self.precision, self.device):
            loss = self.task.loss(self.ddp, batch)
        global_size = self.global_sizes[step - 1 - self.first_step] if world.distributed else batch.size
        if world.distributed:  # DDP averages over ranks: weight by share so it is the global batch's mean
            loss = loss * (batch.size * world.size / global_size)
        self.opt.zero_grad(set_to_none=True)
        loss_value = float(loss.detach())
        finite = math.isfinite(loss_value)
        if world.distributed:  # every rank must take the same decision
            finite = distributed.all_reduce(world, [0.0 if finite else 1.0], op="max", device=self.device)[0] == 0
        bad, stepped = (None if finite else "loss"), False
        if bad is None:
            loss.backward()
            # LeanAdam(W) clip and step in one compiled op where it applies (None elsewhere)
            norm = self.clip_and_step(self.max_norm) if self.clip_and_step is not None else None
            stepped = norm is not None
            if not stepped:
                norm = clip_gradients(self.trainable, self.max_norm)
            bad = None if math.isfinite(norm) else "gradient"
        if bad is not None:
            if config.nan_policy == "error":
                raise NumericalError(
                    f"non-finite {bad} at epoch {epoch}, step {step} of {len(self.sampler)} (lr "
                    f"{self.opt.param_groups[0]['lr']:.3g}); lower --lr, clip gradients with --clip 1.0, or pass "
                    f"--nan-policy skip to skip such steps")
            self.state.nonfinite += 1  # --nan-policy skip: no update from this batch
            self.opt.zero_grad(set_to_none=True)
            if self.sched is not None:
                self.sched.step()
            return False
        if not stepped:
            self.opt.step()
        if self.sched is not None:
            self.sched.step()
        if self.averaged is not None:
            self.averaged.update_parameters(self.model)
        sums.loss_sum += loss_value * batch.size if not world.distributed else loss_value * global_size / world.size
        sums.n_sum += batch.size
        sums.examples += batch.size
        sums.tokens += batch.tokens
        return True

    def end_epoch(self, epoch: int, seconds: float) -> None:
        """Evaluate, record the epoch in the history, save the state for the next one."""
        config, state, task = self.config, self.state, self.task
        state.train_seconds += seconds
        sums = state.sums
        loss_sum, n_sum, examples, tokens = distributed.all_reduce(
            self.world, [sums.loss_sum, sums.n_sum, sums.examples, sums.tokens], device=self.device)
        state.examples_seen += int(examples)
        state.tokens_seen += int(tokens)
        t_eval = time.perf_counter()
        metrics = evaluate_distributed(task, self.final_model, self.test_loader, self.full_test_loader, self.device,
                                       self.world, self.precision, final=epoch == config.epochs)
        eval_seconds = time.perf_counter() - t_eval
        rate = examples / max(1e-9, seconds)
        record = {"epoch": epoch, "train_loss": loss_sum / max(1, n_sum), "test_loss": metrics["loss"],
                  **{k: v for k, v in task.epoch_record(metrics).items() if k != "loss"},
                  "lr": self.opt.param_groups[0]["lr"], "epoch_seconds": seconds, "eval_seconds": eval_seconds,
                  "names_per_second": rate,
                  "tokens_per_second": tokens / max(1e-9, seconds), "nonfinite_steps_skipped": state.nonfinite}
        state.history.append(record)
        state.metrics = metrics
        if self.world.main:
            with open(os.path.join(config.out, HISTORY_FILE), "a") as f:
                f.write(json.dumps(record) + "\n")
        self.log(f"epoch {epoch}/{config.epochs}  train_loss {record['train_loss']:.4f}  "
                 f"test_loss {record['test_loss']:.4f}  {task.headline} {metrics.get(task.headline, 0):.4f}  "
                 f"{rate:,.0f} examples/s  {record['tokens_per_second']:,.0f} tokens/s")
        state.sums = EpochSums()
        state.epoch, state.step = epoch + 1, 0
        self.save_state()
        if self.on_epoch is not None:
            self.on_epoch(record)

    # -- the end -------------------------------------------------------------------
    def finish(self) -> dict[str, Any]:
        """The final metrics, checkpoint.pt, metrics.json and the plots; state.pt removed."""
        config, state, world = self.config, self.state, self.world
        metrics = self.task.finalize(state.metrics, train_dataset=self.train_ds, test_dataset=self.test_ds)
        metrics.update(self._run_figures())
        if world.main:
            save_checkpoint(os.path.join(config.out, CHECKPOINT_FILE), {
                "model": {k: v.detach().cpu() for k, v in self.final_model.state_dict().items()},
                "encoder": {"name": config.encoder, "state": self.encoder.state_dict()},
                "task_state": self.task.state_dict(),
                "config": config_dict(config),
                "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float))},
                "seqkit_version": __version__,
                "components": self.components,
            })
            atomic_write_json(os.path.join(config.out, METRICS_FILE), metrics)
            loss_plot(state.history, os.path.join(config.out, "loss.png"))
            self.task.write_artifacts(config.out, metrics, state.history)
            state_path = os.path.join(config.out, STATE_FILE)
            if os.path.exists(state_path):  # finished: checkpoint.pt and metrics.json are the run now
                os.unlink(state_path)
        distributed.barrier(world)
        return metrics

    def _run_figures(self) -> dict[str, Any]:
        config, state, world, ds = self.config, self.state, self.world, self.dataset
        rate = state.examples_seen / max(1e-9, state.train_seconds)
        return {
            "epochs": config.epochs,
            "precision": self.precision,
            "train_seconds": state.train_seconds,
            "wall_seconds": time.perf_counter() - self.t_start,
            # the last evaluation (the final one: a task may decode more there, e.g. seq2seq's beam)
            # and all of them (per epoch in history.jsonl); not part of train_seconds
            "eval_seconds": state.history[-1].get("eval_seconds", 0.0) if state.history else 0.0,
            "eval_seconds_total": sum(r.get("eval_seconds", 0.0) for r in state.history),
            "names_per_second": rate,  # examples (texts) per second, whatever the task
            "tokens_per_second": state.tokens_seen / max(1e-9, state.train_seconds),
            "parameters": self.n_params,
            "padding_waste": self.waste,
            "nonfinite_steps_skipped": state.nonfinite,
            "world_size": world.size,
            "global_batch_size": config.batch_size * world.size,
            "resumed": self.resumed,
            "split": self.split_report,
            "data": {"source": ds.source, "examples": len(ds), **_skip_report(ds.skipped)},
            "environment": {"device": str(self.device), "torch": torch.__version__, "seqkit": __version__,
                            "threads": torch.get_num_threads(), "python": platform.python_version(),
                            "machine": platform.machine(), "cpu_count": os.cpu_count(),
                            "backend": world.backend},
            "path": self.path,  # which implementation ran the cell and collator, and the ops backend
            "config": config_dict(config),
        }


def _skip_report(skipped: Any) -> dict[str, Any]:
    """What the reader skipped, cut or did not read (the built-in readers' full report; a
    third-party dataset's ``skipped`` may only count lines)."""
    if hasattr(skipped, "as_dict"):
        return skipped.as_dict()
    return {"skipped_lines": skipped.count, "skipped_examples": list(skipped.examples)}
