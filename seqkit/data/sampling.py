"""Batch formation: length bucketing, class balancing, padding accounting.

Random batches of 128 name2lang names waste about half of a padded batch on padding;
sorting by length inside *megabatches* of ``batch_size * megabatch`` examples (as
Hugging Face's ``group_by_length`` does) brings that to a few percent while keeping the
batches random: the megabatches are drawn from a shuffled order and the batches are
shuffled again. Every index of an epoch appears exactly once (or, with class
weights, is drawn with replacement as ``WeightedRandomSampler`` would).
"""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

from ..errors import ConfigError


class BucketBatchSampler(Sampler[list[int]]):
    """Yields lists of dataset indices.

    - ``lengths``: length of every example.
    - ``bucket``: sort by length inside megabatches (False: plain random batches).
    - ``weights``: per-example sampling weights (class balancing); the epoch then draws
      ``len(lengths)`` indices with replacement.
    - ``shuffle=False``: deterministic order (for evaluation), still bucketed if asked.
    - Call :meth:`set_epoch` each epoch; the order depends only on ``seed`` and epoch.
    - ``start``: the first step of the epoch to yield (``set_epoch(epoch, start=k)``), so a
      resumed run continues mid-epoch with exactly the batches it had not seen.
    - Distributed (``num_replicas`` > 1): every rank computes the same *global* batches of
      ``batch_size * num_replicas`` examples and yields its share of each (every
      ``num_replicas``-th example, from ``rank``): the shares are disjoint, every rank takes
      the same number of steps, and a global batch is the one a single process with
      ``--batch-size batch_size * num_replicas`` would form. A final global batch smaller
      than ``num_replicas`` is merged into the one before it, so no rank gets an empty batch.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, *, bucket: bool = True, shuffle: bool = True,
                 seed: int = 0, weights: Sequence[float] | None = None, megabatch: int = 50,
                 drop_last: bool = False, num_replicas: int = 1, rank: int = 0):
        if batch_size < 1:
            raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
        if megabatch < 1:
            raise ConfigError(f"megabatch must be at least 1, got {megabatch}")
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ConfigError(f"rank {rank} of {num_replicas} processes: need 0 <= rank < num_replicas")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        if num_replicas > 1 and len(self.lengths) < num_replicas:
            raise ConfigError(f"{len(self.lengths)} examples cannot be shared by {num_replicas} processes; "
                              f"use fewer processes (--nproc) or more data")
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.batch_size = int(batch_size) * self.num_replicas  # the global batch
        self.bucket, self.shuffle = bool(bucket), bool(shuffle)
        self.seed, self.megabatch, self.drop_last = int(seed), int(megabatch), bool(drop_last)
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.double)
        if self.weights is not None and len(self.weights) != len(self.lengths):
            raise ConfigError(f"{len(self.weights)} weights for {len(self.lengths)} examples")
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch = int(epoch)
        self.start = int(start)

    def __len__(self) -> int:
        n, bs = len(self.lengths), self.batch_size
        if self.drop_last:
            return n // bs
        count = -(-n // bs)
        if count > 1 and n - (count - 1) * bs < self.num_replicas:
            count -= 1  # the tiny tail is merged into the batch before it
        return count

    def order(self) -> np.ndarray:
        """The epoch's example order, before cutting into batches."""
        n = len(self.lengths)
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        if self.weights is not None:
            return torch.multinomial(self.weights, n, replacement=True, generator=gen).numpy()
        if self.shuffle:
            return torch.randperm(n, generator=gen).numpy()
        return np.arange(n)

    def batches(self) -> list[list[int]]:
        order = self.order()
        bs = self.batch_size
        if self.bucket:
            mb = bs * self.megabatch
            chunks = [order[i:i + mb] for i in range(0, len(order), mb)]
            # stable sort, longest first, inside each megabatch
            order = np.concatenate([c[np.argsort(-self.lengths[c], kind="stable")] for c in chunks]) \
                if chunks else order
        batches = [order[i:i + bs].tolist() for i in range(0, len(order), bs)]
        if self.drop_last and batches and len(batches[-1]) < bs:
            batches.pop()
        if len(batches) > 1 and len(batches[-1]) < self.num_replicas:
            batches[-2].extend(batches.pop())
        if self.shuffle and self.bucket and len(batches) > 1:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch + 7919)
            perm = torch.randperm(len(batches), generator=gen).tolist()
            batches = [batches[p] for p in perm]
        return batches

    def global_batches(self) -> list[list[int]]:
        """The epoch's global batches from step ``start`` on (what every rank agrees on)."""
        return self.batches()[self.start:]

    def share(self, batch: Sequence[int]) -> list[int]:
        """This rank's part of a global batch."""
        return list(batch[self.rank::self.num_replicas])

    def __iter__(self) -> Iterator[list[int]]:
        if self.num_replicas == 1:
            return iter(self.global_batches())
        return (self.share(b) for b in self.global_batches())


def padding_waste(batches: Sequence[Sequence[int]], lengths: Sequence[int]) -> float:
    """Fraction of a padded batch's cells that are padding, over all batches."""
    lengths = np.asarray(lengths)
    cells = real = 0
    for b in batches:
        ls = lengths[np.asarray(b, dtype=np.int64)]
        cells += int(ls.max()) * len(ls)
        real += int(ls.sum())
    return 0.0 if cells == 0 else 1.0 - real / cells


def class_weights(label_indices: np.ndarray, num_classes: int) -> np.ndarray:
    """Inverse class frequency per class (classes absent get weight 0)."""
    counts = np.bincount(label_indices, minlength=num_classes).astype(np.float64)
    w = np.zeros(num_classes)
    present = counts > 0
    w[present] = len(label_indices) / (present.sum() * counts[present])
    return w
