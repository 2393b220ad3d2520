"""classify's model: the input layer and a sequence classifier.

Data flow: symbol indices (from the collator) -> :class:`InputLayer` (one-hot rows or a
learned embedding) -> a registered cell -> the last valid hidden state of every
sequence (both directions when bidirectional) -> a linear head.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from seqkit.nn.packed import last_states, map_packed


class InputLayer(nn.Module):
    """Symbol indices -> model input rows.

    - ``one_hot=True``: fixed one-hot rows of width ``num_symbols`` (the course's input).
    - ``one_hot=False``: a learned ``nn.Embedding(num_symbols, embedding_dim)``.
    - ``pass_indices=True`` (one-hot only): hand the indices to the cell unchanged, for
      cells that take index input and gather ``W_ih`` columns instead of multiplying by
      one-hot rows (cells registered with the ``indices`` capability); mathematically the
      same model.
    """

    def __init__(self, num_symbols: int, *, one_hot: bool, embedding_dim: int = 64, pad_index: int = 0,
                 pass_indices: bool = False):
        super().__init__()
        self.num_symbols, self.one_hot = int(num_symbols), bool(one_hot)
        self.pass_indices = bool(pass_indices and one_hot)
        self.embedding = None if one_hot else nn.Embedding(num_symbols, embedding_dim, padding_idx=pad_index)
        self.output_size = num_symbols if one_hot else embedding_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_floating_point():  # already rows (a collator that emits one-hot data)
            return x
        if self.pass_indices:
            return x
        if self.one_hot:
            return F.one_hot(x, self.num_symbols).to(torch.get_default_dtype())
        return self.embedding(x)


class SequenceClassifier(nn.Module):
    """input layer (-> dropout) -> cell -> last valid state -> dropout -> linear head (logits)."""

    def __init__(self, input_layer: InputLayer, cell: nn.Module, *, hidden_size: int, bidirectional: bool,
                 num_classes: int, dropout: float = 0.0, input_dropout: float = 0.0):
        super().__init__()
        self.input_layer, self.cell = input_layer, cell
        # on learned embeddings only: one-hot rows (or the indices standing for them) are left intact,
        # so every cell sees the same input whether it takes rows or indices
        self.input_dropout = nn.Dropout(input_dropout) if input_dropout and not input_layer.one_hot else None
        self.bidirectional = bool(bidirectional)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)

    def features(self, inputs: PackedSequence | torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        embed = self.input_layer if self.input_dropout is None else \
            (lambda t: self.input_dropout(self.input_layer(t)))
        x = map_packed(embed, inputs) if isinstance(inputs, PackedSequence) else embed(inputs)
        return last_states(self.cell, x, lengths, bidirectional=self.bidirectional)

    def forward(self, inputs: PackedSequence | torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        features = self.features(inputs, lengths)
        return self.head(self.dropout(features) if self.dropout.p else features)
