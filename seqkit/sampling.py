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

from .errors import ConfigError


class BucketBatchSampler(Sampler[list[int]]):
    """Yields lists of dataset indices.

    - ``lengths``: length of every example.
    - ``bucket``: sort by length inside megabatches (False: plain random batches).
    - ``weights``: per-example sampling weights (class balancing); the epoch then draws
      ``len(lengths)`` indices with replacement.
    - ``shuffle=False``: deterministic order (for evaluation), still bucketed if asked.
    - Call :meth:`set_epoch` each epoch; the order depends only on ``seed`` and epoch.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, *, bucket: bool = True, shuffle: bool = True,
                 seed: int = 0, weights: Sequence[float] | None = None, megabatch: int = 50,
                 drop_last: bool = False):
        if batch_size < 1:
            raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
        if megabatch < 1:
            raise ConfigError(f"megabatch must be at least 1, got {megabatch}")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.batch_size, self.bucket, self.shuffle = int(batch_size), bool(bucket), bool(shuffle)
        self.seed, self.megabatch, self.drop_last = int(seed), int(megabatch), bool(drop_last)
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.double)
        if self.weights is not None and len(self.weights) != len(self.lengths):
            raise ConfigError(f"{len(self.weights)} weights for {len(self.lengths)} examples")
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        n = len(self.lengths)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

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
        if self.shuffle and self.bucket and len(batches) > 1:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch + 7919)
            perm = torch.randperm(len(batches), generator=gen).tolist()
            batches = [batches[p] for p in perm]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())


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
