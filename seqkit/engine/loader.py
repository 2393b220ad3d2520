"""Batches of a dataset: torch's DataLoader, or the same batches made in this process."""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch.utils.data import DataLoader


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


def make_loader(dataset: Any, collator: Callable, sampler: Any, workers: int,
                device: torch.device) -> "InProcessLoader | DataLoader":
    """Batches of ``dataset``: DataLoader with ``--workers`` processes (and pinned memory for
    CUDA), else an :class:`InProcessLoader` (the same batches with less per-batch work)."""
    if workers == 0 and device.type != "cuda":
        return InProcessLoader(dataset, sampler, collator)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collator, num_workers=workers,
                      pin_memory=device.type == "cuda", persistent_workers=workers > 0)
