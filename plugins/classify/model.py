"""classify's model: the input layer and a sequence classifier.

Data flow: symbol indices (from the collator) -> :class:`InputLayer` (one-hot rows or a
learned embedding) -> a registered cell -> the last valid hidden state of every
sequence (both directions when bidirectional) -> a linear head.

Input dropout (``--input-dropout``, learned embeddings only) is embedding dropout: in
training, each batch draws one dropout mask over the ``[num_symbols, embedding_dim]``
table, so every occurrence of a symbol in the batch sees the same dropped-out vector
(Gal & Ghahramani's embedding dropout, the mask drawn per batch). The embedded batch is
then a gather from one table, and a cell registered with the ``embedding`` capability
(``fused-gru``) folds that table into its input projection (a gather of ``W_ih @ E^T``
instead of an ``[N, E] x [E, 3H]`` product forward and backward). Every cell trains the
same model: the others get the gathered rows. Dropout masks (input and head) come from
:func:`seqkit.ops.dropout` (F.dropout's distribution, a cheaper mask on the CPU).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from seqkit import ops
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

    def forward(self, x: torch.Tensor, table: torch.Tensor | None = None) -> torch.Tensor:
        """Rows for symbol indices ``x``; ``table`` replaces the embedding's weight (a dropped-out copy)."""
        if x.is_floating_point():  # already rows (a collator that emits one-hot data)
            return x
        if self.pass_indices:
            return x
        if self.one_hot:
            return F.one_hot(x, self.num_symbols).to(torch.get_default_dtype())
        if table is None:
            return self.embedding(x)
        return F.embedding(x, table, self.embedding.padding_idx)


class SequenceClassifier(nn.Module):
    """input layer (-> dropout) -> cell -> last valid state -> dropout -> linear head (logits)."""

    def __init__(self, input_layer: InputLayer, cell: nn.Module, *, hidden_size: int, bidirectional: bool,
                 num_classes: int, dropout: float = 0.0, input_dropout: float = 0.0, fold_embedding: bool = False):
        super().__init__()
        self.input_layer, self.cell = input_layer, cell
        # on learned embeddings only: one-hot rows (or the indices standing for them) are left intact,
        # so every cell sees the same input whether it takes rows or indices. Embedding dropout: one
        # mask over the table per batch (module docstring); the module holds p
        self.input_dropout = nn.Dropout(input_dropout) if input_dropout and not input_layer.one_hot else None
        # the cell folds the embedding table into its input projection (capability "embedding")
        self.fold_embedding = bool(fold_embedding) and not input_layer.one_hot
        self.bidirectional = bool(bidirectional)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)

    def embedding_table(self) -> torch.Tensor | None:
        """The learned embedding's table as this batch sees it (dropped out in training), or None."""
        layer = self.input_layer
        if layer.embedding is None:
            return None
        weight = layer.embedding.weight
        if self.input_dropout is not None and self.training:
            return ops.dropout(weight, self.input_dropout.p)
        return weight

    def features(self, inputs: PackedSequence | torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        table = self.embedding_table()
        packed = isinstance(inputs, PackedSequence)
        # folded only on packed indices: padded input holds pad symbols, whose embedding row
        # nn.Embedding keeps at zero (padding_idx) and a folded table would train
        if self.fold_embedding and packed and not inputs.data.is_floating_point():
            return last_states(self.cell, inputs, lengths, bidirectional=self.bidirectional, embedding=table)
        embed = lambda t: self.input_layer(t, table)  # noqa: E731
        x = map_packed(embed, inputs) if packed else embed(inputs)
        return last_states(self.cell, x, lengths, bidirectional=self.bidirectional)

    def forward(self, inputs: PackedSequence | torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        features = self.features(inputs, lengths)
        # seqkit.ops.dropout: F.dropout's distribution, a cheaper mask on the CPU
        return self.head(ops.dropout(features, self.dropout.p, self.training))
