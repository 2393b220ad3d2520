"""Built-in cells: ``rnn``, ``lstm``, ``gru`` (the torch modules themselves).

torch's recurrent modules already satisfy the cell contract: ``forward(x, h0=None)``
on a PackedSequence or a ``(T, B, I)`` tensor, ``(output, h_n)`` with ``h_n`` in the
caller's order.
"""
from __future__ import annotations

from torch import nn

from seqkit import hookimpl


def _factory(cls, **fixed):
    def make(input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
             bidirectional: bool = False, **options) -> nn.Module:
        if num_layers == 1 and dropout:
            dropout = 0.0  # torch warns and ignores it: dropout acts between layers only
        return cls(input_size, hidden_size, num_layers=num_layers, dropout=dropout,
                   bidirectional=bidirectional, **fixed, **options)
    make.__name__ = f"make_{cls.__name__.lower()}"
    make.__doc__ = f"``torch.nn.{cls.__name__}`` with the seqkit cell signature."
    return make


@hookimpl
def seqkit_register_cells(register):
    register("rnn", _factory(nn.RNN), help="torch.nn.RNN (Elman, tanh); option nonlinearity='relu'")
    register("lstm", _factory(nn.LSTM), help="torch.nn.LSTM; h_n is the tuple (h, c)")
    register("gru", _factory(nn.GRU), help="torch.nn.GRU (cuDNN on CUDA)")
