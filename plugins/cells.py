"""Built-in cells: ``rnn``, ``lstm``, ``gru`` (the torch modules themselves).

torch's recurrent modules already satisfy the cell contract: ``forward(x, h0=None)``
on a PackedSequence or a ``(T, B, I)`` tensor, ``(output, h_n)`` with ``h_n`` in the
caller's order. torch is imported when a cell is made, not when the plugin loads.
"""
from __future__ import annotations

from seqkit import hookimpl


def _make(cls_name: str, input_size: int, hidden_size: int, num_layers: int, dropout: float, bidirectional: bool,
          options: dict):
    from torch import nn

    if num_layers == 1 and dropout:
        dropout = 0.0  # torch warns and ignores it: dropout acts between layers only
    return getattr(nn, cls_name)(input_size, hidden_size, num_layers=num_layers, dropout=dropout,
                                 bidirectional=bidirectional, **options)


def make_rnn(input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0, bidirectional: bool = False,
             **options):
    """``torch.nn.RNN`` with the seqkit cell signature."""
    return _make("RNN", input_size, hidden_size, num_layers, dropout, bidirectional, options)


def make_lstm(input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
              bidirectional: bool = False, **options):
    """``torch.nn.LSTM`` with the seqkit cell signature."""
    return _make("LSTM", input_size, hidden_size, num_layers, dropout, bidirectional, options)


def make_gru(input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0, bidirectional: bool = False,
             **options):
    """``torch.nn.GRU`` with the seqkit cell signature."""
    return _make("GRU", input_size, hidden_size, num_layers, dropout, bidirectional, options)


@hookimpl
def seqkit_register_cells(register):
    register("rnn", make_rnn, help="torch.nn.RNN (Elman, tanh); option nonlinearity='relu'")
    register("lstm", make_lstm, help="torch.nn.LSTM; h_n is the tuple (h, c)")
    register("gru", make_gru, help="torch.nn.GRU (cuDNN on CUDA)")
