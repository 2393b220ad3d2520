"""Evaluation of a model on batches: one process, or each process its share of the test set."""
from __future__ import annotations

import torch
from torch import nn

from . import distributed
from .precision import autocast


def evaluate_batches(task, model: nn.Module, loader, device: torch.device, precision: str = "fp32", *,
                     final: bool = True) -> dict:
    """``task.evaluate`` on every batch of ``loader`` (eval mode, no gradients, ``--precision``)."""
    model.eval()
    with torch.no_grad(), autocast(precision, device):
        return task.evaluate(model, (b.to(device) for b in loader), device, final=final)


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
