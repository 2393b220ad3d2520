"""The parts of a run made from its configuration: device, seeds, the registered
components (dataset, encoder, cell and collator factories, task), optimizer, schedule,
gradient clipping.

Every component comes from a registry by name; a factory that refuses its options
(``ValueError``, ``NotImplementedError``) becomes one :class:`~seqkit.errors.ConfigError`
line naming the component and its plugin.
"""
from __future__ import annotations

import math
import random
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, DataError
from ..nn.optim import LeanAdam, LeanAdamW
from ..plugin import registry
from .config import RunConfig, create


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
    """Seed Python's, numpy's and torch's global generators (the run's first draw follows)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def load_dataset(config: RunConfig, path: str | None = None) -> Any:
    """The configured dataset, read from ``path`` (default ``--data``); empty is an error.

    ``--max-length`` and ``--truncate`` go to the factory where it takes them (the built-in
    readers refuse a longer text naming its file and line); any dataset's texts are then
    checked against ``--max-length`` here, naming the item."""
    path = config.data if path is None else path
    limits = {k: v for k, v in (("max_length", config.max_length), ("truncate", config.truncate))
              if _takes(registry.datasets.get(config.dataset), k)}
    ds = create(registry.datasets, config.dataset, path=path, **{"on_bad_line": config.on_bad_line, **limits,
                                                                 **config.dataset_options})
    if len(ds) == 0:
        raise DataError(f"dataset '{config.dataset}' is empty; check --data")
    lengths = np.asarray(ds.lengths()) if hasattr(ds, "lengths") else np.zeros(0, dtype=np.int64)
    if len(lengths) and int(lengths.max()) > config.max_length:
        i = int(lengths.argmax())
        raise DataError(f"{getattr(ds, 'source', config.dataset)}: item {i} ({str(ds[i][0])[:30]!r}...) has "
                        f"{int(lengths[i]):,} characters, more than --max-length {config.max_length}; shorten or "
                        f"drop it, or raise --max-length")
    return ds


def _takes(factory: Callable, keyword: str) -> bool:
    """Whether ``factory`` names ``keyword`` among its parameters (``**kwargs`` does not count:
    the factory may pass them on to something that does not take them)."""
    import inspect

    try:
        return keyword in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False


def make_encoder(config: RunConfig) -> Any:
    """The configured encoder (not fitted yet)."""
    return create(registry.encoders, config.encoder, **config.encoder_options)


def cell_factory(config: RunConfig) -> Callable[..., nn.Module]:
    """``make_cell(input_size, **overrides)``: the configured cell (``overrides``:
    hidden_size, num_layers, bidirectional other than the configured ones)."""
    def make_cell(input_size: int, **overrides) -> nn.Module:
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


def collator_factory(config: RunConfig) -> Callable[..., Any]:
    """``make_collator(encoder, labels=None)``: the configured collator."""
    def make_collator(encoder, labels=None):
        return create(registry.collators, config.collator, encoder, labels=labels, **config.collator_options)
    return make_collator


def make_optimizer(model: nn.Module, config: RunConfig) -> torch.optim.Optimizer:
    """``--optimizer`` over the trainable parameters: SGD, or Adam / AdamW on torch's fused
    kernel through :mod:`seqkit.nn.optim` (the per-tensor loop where that is unavailable)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    try:  # the fused kernel (CPU and CUDA, torch >= 2.4) is one kernel per tensor, not a loop of
        # ops, and seqkit.nn.optim's subclasses take it with less Python per step (same results)
        cls = LeanAdam if config.optimizer == "adam" else LeanAdamW
        return cls(params, lr=config.lr, weight_decay=config.weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):
        cls = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
        return cls(params, lr=config.lr, weight_decay=config.weight_decay)


def make_schedule(opt: torch.optim.Optimizer, config: RunConfig,
                  steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """``--schedule`` over the whole run, stepped per batch: one-cycle, cosine or None."""
    total = max(1, config.epochs * steps_per_epoch)
    if config.schedule == "onecycle":
        # OneCycleLR needs at least one step in each phase: short runs warm up over 2 steps
        pct = 0.25 if total < 4 else min(0.5, max(0.25, 2 / total))
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=total, pct_start=pct)
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    return None


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
