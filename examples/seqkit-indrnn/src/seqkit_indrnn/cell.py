"""IndRNN: independently recurrent neural network (Li et al., CVPR 2018).

Each hidden unit has one recurrent weight instead of a full recurrent matrix::

    h_t = relu(W x_t + u * h_{t-1} + b)        (u * h: element-wise)

Stacked layers feed each other's outputs; ``bidirectional=True`` adds a second
direction per layer that reads every sequence backwards from its own last step;
``dropout`` acts between layers in training mode only.

The module follows seqkit's cell contract (``torch.nn.GRU``'s calling convention):
``forward(x, h0=None)`` takes a ``PackedSequence`` or a ``(T, B, input_size)`` tensor and
returns ``(output, h_n)``: ``output`` a ``PackedSequence`` with the input's layout (or
``(T, B, D * hidden_size)``) and ``h_n`` of shape ``(num_layers * D, B, hidden_size)``,
both in the caller's batch order. ``h0`` is in the caller's order too.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

_ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh}


class IndRNN(nn.Module):
    """An IndRNN with the ``torch.nn.GRU`` calling convention.

    Parameters per layer ``k`` (and ``_reverse`` for the backward direction):
    ``weight_ih_l{k}`` ``(hidden, in)``, ``weight_hh_l{k}`` ``(hidden,)`` (the recurrent
    vector ``u``) and ``bias_l{k}`` ``(hidden,)``.

    - ``nonlinearity``: ``"relu"`` (the paper's) or ``"tanh"``.
    - ``recurrent_max``: clip ``|u|`` to this value in forward (the paper's constraint
      against exploding states over long sequences); ``None`` leaves ``u`` free.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                 bidirectional: bool = False, *, nonlinearity: str = "relu", recurrent_max: float | None = None,
                 bias: bool = True):
        super().__init__()
        if int(input_size) < 1 or int(hidden_size) < 1:
            raise ValueError(f"indrnn: input_size and hidden_size must be >= 1, got {input_size}, {hidden_size}")
        if int(num_layers) < 1:
            raise ValueError(f"indrnn: num_layers must be >= 1, got {num_layers}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"indrnn: dropout must be in [0, 1), got {dropout}")
        if nonlinearity not in _ACTIVATIONS:
            raise ValueError(f"indrnn: nonlinearity must be one of {', '.join(_ACTIVATIONS)}, got {nonlinearity!r}")
        if recurrent_max is not None and float(recurrent_max) <= 0:
            raise ValueError(f"indrnn: recurrent_max must be > 0, got {recurrent_max}")
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.num_layers, self.dropout = int(num_layers), float(dropout)
        self.bidirectional, self.nonlinearity = bool(bidirectional), nonlinearity
        self.recurrent_max = None if recurrent_max is None else float(recurrent_max)
        self.bias = bool(bias)
        directions = 2 if self.bidirectional else 1
        self._names: list[tuple[str, str, str | None]] = []
        for layer in range(self.num_layers):
            in_size = self.input_size if layer == 0 else self.hidden_size * directions
            for d in range(directions):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                self.register_parameter(f"weight_ih{sfx}", nn.Parameter(torch.empty(self.hidden_size, in_size)))
                self.register_parameter(f"weight_hh{sfx}", nn.Parameter(torch.empty(self.hidden_size)))
                if self.bias:
                    self.register_parameter(f"bias{sfx}", nn.Parameter(torch.empty(self.hidden_size)))
                self._names.append((f"weight_ih{sfx}", f"weight_hh{sfx}", f"bias{sfx}" if self.bias else None))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Input weights U(-1/sqrt(H), 1/sqrt(H)) as torch's RNNs; recurrent weights
        U(0, 1) (clipped to ``recurrent_max``); biases zero. Draws from torch's global RNG."""
        k = 1.0 / math.sqrt(self.hidden_size)
        for w_ih, w_hh, b in self._names:
            nn.init.uniform_(getattr(self, w_ih), -k, k)
            nn.init.uniform_(getattr(self, w_hh), 0.0, 1.0)
            if self.recurrent_max is not None:
                with torch.no_grad():
                    getattr(self, w_hh).clamp_(-self.recurrent_max, self.recurrent_max)
            if b is not None:
                nn.init.zeros_(getattr(self, b))

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.nonlinearity != "relu":
            s += f", nonlinearity={self.nonlinearity!r}"
        return s

    # -- forward ---------------------------------------------------------------------
    def forward(self, x: PackedSequence | torch.Tensor, h0: torch.Tensor | None = None):
        packed = isinstance(x, PackedSequence)
        if packed:
            padded, lengths = pad_packed_sequence(x)  # caller order: pad_packed_sequence unsorts
        else:
            if x.dim() != 3:
                raise ValueError(f"indrnn: expected a PackedSequence or a (T, B, {self.input_size}) tensor, got "
                                 f"shape {tuple(x.shape)}")
            padded, lengths = x, None
        T, B, features = padded.shape
        if features != self.input_size:
            raise ValueError(f"indrnn: expected input_size {self.input_size}, got {features}")
        directions = 2 if self.bidirectional else 1
        expected = (self.num_layers * directions, B, self.hidden_size)
        if h0 is None:
            h0 = padded.new_zeros(expected)
        elif tuple(h0.shape) != expected:
            raise ValueError(f"indrnn: h0 must have shape {expected}, got {tuple(h0.shape)}")

        mask = None
        if lengths is not None:
            steps = torch.arange(T, device=padded.device)[:, None]
            mask = (steps < lengths.to(padded.device)[None, :]).unsqueeze(-1)  # (T, B, 1)

        layer_input, h_n = padded, []
        for layer in range(self.num_layers):
            outs = []
            for d in range(directions):
                w_ih, w_hh, b = (getattr(self, n) if n else None for n in self._names[layer * directions + d])
                inp = layer_input if d == 0 else _reverse(layer_input, lengths)
                out, h = self._direction(inp, h0[layer * directions + d], w_ih, w_hh, b, mask)
                outs.append(out if d == 0 else _reverse(out, lengths))
                h_n.append(h)
            layer_input = outs[0] if directions == 1 else torch.cat(outs, dim=-1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
        h_n = torch.stack(h_n)

        if not packed:
            return layer_input, h_n
        # Re-pack in exactly the input's layout (batch_sizes and sort permutation).
        order = x.sorted_indices
        sorted_out = layer_input if order is None else layer_input.index_select(1, order)
        sorted_len = lengths if order is None else lengths.index_select(0, order.cpu())
        data = pack_padded_sequence(sorted_out, sorted_len, enforce_sorted=True).data
        return PackedSequence(data, x.batch_sizes, x.sorted_indices, x.unsorted_indices), h_n

    def _direction(self, inp, h, w_ih, w_hh, b, mask):
        """One layer, one direction over ``(T, B, in)``: outputs ``(T, B, H)`` and the last valid state."""
        act = _ACTIVATIONS[self.nonlinearity]
        if self.recurrent_max is not None:
            w_hh = w_hh.clamp(-self.recurrent_max, self.recurrent_max)
        projected = F.linear(inp, w_ih, b)  # all steps at once
        outs = []
        for t in range(inp.shape[0]):
            new = act(projected[t] + w_hh * h)
            if mask is None:
                h = new
                outs.append(new)
            else:
                valid = mask[t]
                h = torch.where(valid, new, h)
                outs.append(new * valid)  # zeros at padded steps, as pad_packed_sequence shows them
        return torch.stack(outs), h


def _reverse(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Reverse each sequence of ``(T, B, F)`` within its own length (padding stays put)."""
    if lengths is None:
        return x.flip(0)
    T = x.shape[0]
    steps = torch.arange(T)[:, None]
    lengths = lengths.cpu()[None, :]
    index = torch.where(steps < lengths, lengths - 1 - steps, steps).to(x.device)  # (T, B)
    return x.gather(0, index.unsqueeze(-1).expand_as(x))


def make_indrnn(input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                bidirectional: bool = False, **options) -> IndRNN:
    """The seqkit cell factory: ``IndRNN`` with seqkit's cell signature.

    Options: ``nonlinearity`` (``relu``/``tanh``), ``recurrent_max``, ``bias``. Bad values
    raise ``ValueError``. Like torch's RNNs, ``dropout`` with one layer is ignored.
    """
    if int(num_layers) == 1:
        dropout = 0.0  # dropout acts between layers only
    return IndRNN(input_size, hidden_size, num_layers=num_layers, dropout=dropout, bidirectional=bidirectional,
                  **options)
