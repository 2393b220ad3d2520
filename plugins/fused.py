"""Built-in fused components: the ``fused-pack`` collator and the ``fused-gru`` cell.

Both run seqkit's compiled ops (``seqkit.ops``: C++ on CPU) and fall back to the
pure-PyTorch reference implementation, with one warning, where the extension cannot be
built; ``seqkit plugins`` shows which backend is active.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from seqkit import hookimpl
from seqkit.batch import Batch, Collator
from seqkit.errors import DataError


class FusedPackCollator(Collator):
    """Raw strings -> ``PackedSequence`` of symbol indices in one C++ pass (no tensor per
    name): the same batch as ``pack``, built by :func:`seqkit.ops.encode_pack`."""

    def __init__(self, encoder, *, labels: Sequence[str] | None = None):
        super().__init__(encoder, labels=labels)
        self.alphabet = "".join(encoder.symbols)
        self.unknown = int(encoder.unk_index)
        self.normalize = encoder.normalize if (getattr(encoder, "fold", False) or
                                               getattr(encoder, "lowercase", False)) else None

    def __call__(self, items: Sequence[tuple[str, Any]]) -> Batch:
        from seqkit import ops

        texts, targets = self.split(items)
        if self.normalize is not None:
            texts = [self.normalize(t) for t in texts]
        try:
            packed = ops.encode_pack(texts, self.alphabet, unknown=self.unknown)
        except ValueError as exc:
            raise DataError(f"fused-pack: {exc}") from None
        # sequence j (sorted order) is active in the steps whose batch size exceeds j
        bs = packed.batch_sizes
        lengths = (torch.arange(len(texts)).unsqueeze(1) < bs.unsqueeze(0)).sum(1)[packed.unsorted_indices]
        return Batch(packed, lengths, targets)


def make_fused_gru(input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                   bidirectional: bool = False, **options):
    """``seqkit.fused_gru.FusedGRU``: nn.GRU's parameters and state_dict, fused kernels."""
    from seqkit.fused_gru import FusedGRU

    if num_layers == 1:
        dropout = 0.0
    cell = FusedGRU(input_size, hidden_size, num_layers=num_layers, dropout=dropout, bidirectional=bidirectional,
                    **options)
    cell.accepts_indices = True  # one-hot input arrives as indices: W_ih column gather
    return cell


@hookimpl
def seqkit_register_collators(register):
    register("fused-pack", FusedPackCollator,
             help="raw strings -> PackedSequence in one C++ pass (seqkit.ops.encode_pack)")


@hookimpl
def seqkit_register_cells(register):
    register("fused-gru", make_fused_gru,
             help="GRU with fused C++ forward/backward on packed batches; nn.GRU weights and state_dict")
