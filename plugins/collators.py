"""Built-in collators: ``pad`` (padded tensor + lengths) and ``pack`` (PackedSequence).
torch is imported when a batch is made, not when the plugin loads."""
from __future__ import annotations

from typing import Any, Sequence

from seqkit import hookimpl
from seqkit.data.batch import Batch, Collator


class PadCollator(Collator):
    """``(T, B)`` int64 indices padded with the encoder's ``pad_index`` (``batch_first``
    for ``(B, T)``), CPU int64 lengths and targets, all in the caller's order."""

    def __init__(self, encoder, *, labels: Sequence[str] | None = None, batch_first: bool = False):
        super().__init__(encoder, labels=labels)
        self.batch_first = bool(batch_first)

    def __call__(self, items: Sequence[tuple[str, Any]]) -> Batch:
        from torch.nn.utils.rnn import pad_sequence

        texts, targets = self.split(items)
        seqs, lengths = self.encode(texts)
        padded = pad_sequence(seqs, batch_first=self.batch_first, padding_value=self.encoder.pad_index)
        return Batch(padded, lengths, targets)


class PackCollator(Collator):
    """A ``PackedSequence`` of int64 indices (``enforce_sorted=False``: sequences are
    sorted inside, ``unsorted_indices`` restores the caller's order), with lengths and
    targets in the caller's order."""

    def __call__(self, items: Sequence[tuple[str, Any]]) -> Batch:
        from torch.nn.utils.rnn import pack_sequence

        texts, targets = self.split(items)
        seqs, lengths = self.encode(texts)
        return Batch(pack_sequence(seqs, enforce_sorted=False), lengths, targets)


@hookimpl
def seqkit_register_collators(register):
    register("pad", PadCollator, help="padded (T, B) index tensor + lengths; cells see padding")
    register("pack", PackCollator, help="torch PackedSequence (enforce_sorted=False), targets kept aligned")
