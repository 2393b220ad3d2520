"""A third-party plugin: a cell written from scratch, an encoder and a dataset."""
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from seqkit import hookimpl
from seqkit.data.encoding import Encoder


class TinyRNN(nn.Module):
    """An Elman RNN (tanh) written step by step; unidirectional, one layer."""

    def __init__(self, input_size, hidden_size, num_layers=1, dropout=0.0, bidirectional=False):
        super().__init__()
        if bidirectional or num_layers != 1:
            raise NotImplementedError("tiny-rnn supports one unidirectional layer")
        self.hidden_size = hidden_size
        self.ih = nn.Linear(input_size, hidden_size)
        self.hh = nn.Linear(hidden_size, hidden_size)

    def forward(self, x, h0=None):
        packed = isinstance(x, PackedSequence)
        if packed:
            padded, lengths = pad_packed_sequence(x)
        else:
            padded = x
            lengths = torch.full((x.shape[1],), x.shape[0], dtype=torch.long)
        T, B, _ = padded.shape
        h = padded.new_zeros(B, self.hidden_size) if h0 is None else h0[0]
        outs = []
        for t in range(T):
            new = torch.tanh(self.ih(padded[t]) + self.hh(h))
            active = (lengths > t).to(padded.device).unsqueeze(1)
            h = torch.where(active, new, h)
            outs.append(h)
        out = torch.stack(outs)
        h_n = h.unsqueeze(0)
        if packed:
            # padded came out in the caller's order already (pad_packed_sequence unsorts)
            return pack_padded_sequence(out, lengths, enforce_sorted=False), h_n
        return out, h_n


@hookimpl
def seqkit_register_cells(register):
    register("tiny-rnn", TinyRNN, help="an Elman RNN written from scratch (test plugin)")


@hookimpl
def seqkit_register_encoders(register):
    register("lower", lambda **o: Encoder(None, lowercase=True, name="lower", **o),
             help="lower-cased learned alphabet (test plugin)")


@hookimpl
def seqkit_register_commands(cli):
    import click

    @cli.command()
    @click.argument("who", default="world")
    def hello(who):
        """Say hello (a plugin command)."""
        click.echo(f"hello, {who}")
