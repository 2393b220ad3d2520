"""Helpers for modules that take a ``PackedSequence`` (or a padded batch with lengths)."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence


def map_packed(fn: Callable[[torch.Tensor], torch.Tensor], packed: PackedSequence) -> PackedSequence:
    """Apply ``fn`` to a PackedSequence's data, keeping its batch layout."""
    return PackedSequence(fn(packed.data), packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)


def last_states(cell: nn.Module, inputs: PackedSequence | torch.Tensor, lengths: torch.Tensor,
                *, bidirectional: bool, **cell_kwargs) -> torch.Tensor:
    """Run ``cell`` (with ``cell_kwargs``) and return the last valid state of every sequence, ``(B, D*H)``.

    Packed input: the last layer of ``h_n`` (caller order). Padded ``(T, B, I)`` input:
    a unidirectional cell's output at ``lengths - 1``; a bidirectional cell gets the
    batch packed first, since its backward direction must start at each sequence's end.
    """
    if not isinstance(inputs, PackedSequence) and bidirectional:
        inputs = pack_padded_sequence(inputs, lengths.cpu(), enforce_sorted=False)
    if isinstance(inputs, PackedSequence):
        _, h_n = cell(inputs, **cell_kwargs)
        h = h_n[0] if isinstance(h_n, tuple) else h_n
        # the last layer's state, both directions side by side ([forward, backward])
        return torch.cat((h[-2], h[-1]), 1) if bidirectional else h[-1]
    output, _ = cell(inputs, **cell_kwargs)
    rows = torch.arange(output.shape[1], device=output.device)
    return output[lengths.to(output.device) - 1, rows]
