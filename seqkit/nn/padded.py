"""A recurrent cell on a padded batch with lengths, every direction masked by length, with no
``PackedSequence``: the form in which a trained cell exports (ONNX, TorchScript,
``torch.export``) with variable batch size and length.

:class:`PaddedRNN` holds one single-layer, single-direction torch module (``nn.GRU``,
``nn.LSTM`` or ``nn.RNN``) per layer and direction, with the trained cell's own weights.
A forward direction reads the padded batch as it is: its outputs at the valid steps do not
depend on what follows. A backward direction reads each sequence reversed within its own
length (positions past the end stay where they are), so that it starts at each sequence's
last symbol, exactly as on a PackedSequence; its outputs are put back in order the same way.
Outputs at padded positions are zeros. The result equals the cell on the packed batch:
outputs at the valid steps, and the last layer's final states.

:func:`exportable_cell` turns a registered cell into that form: any ``torch.nn.GRU``,
``LSTM`` or ``RNN`` (:class:`~seqkit.nn.FusedGRU` is an ``nn.GRU``), or a cell with an
``exportable()`` method returning one with the same weights.
"""
from __future__ import annotations

from typing import List, Tuple

import torch
from torch import nn

__all__ = ["NotExportable", "PaddedRNN", "ScanRecurrence", "exportable_cell", "plain_cell", "reverse_within_lengths"]


class NotExportable(TypeError):
    """The cell cannot be turned into a :class:`PaddedRNN` (the message says why)."""


def reverse_within_lengths(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """``[B, T]`` indices that reverse each row's first ``lengths[b]`` steps and keep the rest
    (an involution: applying it twice gives the identity)."""
    t = torch.arange(steps, device=lengths.device).unsqueeze(0)
    n = lengths.unsqueeze(1)
    return torch.where(t < n, n - 1 - t, t)


def _take_steps(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x[b, index[b, t]]`` for a batch-first ``x`` [B, T, F]."""
    return x.gather(1, index.unsqueeze(2).expand(-1, -1, x.shape[2]))


class ScanRecurrence(nn.Module):
    """One layer and direction of a GRU, LSTM or RNN as a ``scan`` over time steps (the same
    arithmetic as torch's modules). ``torch.export`` keeps the number of steps dynamic through
    a scan, where it specialises it for ``aten.gru`` / ``aten.lstm``; ONNX and TorchScript
    take torch's own modules instead."""

    def __init__(self, one: nn.RNNBase, kind: str):
        super().__init__()
        self.kind, self.hidden_size = kind, one.hidden_size
        self.nonlinearity = getattr(one, "nonlinearity", "tanh")
        self.weight_ih = nn.Parameter(one.weight_ih_l0.detach().clone())
        self.weight_hh = nn.Parameter(one.weight_hh_l0.detach().clone())
        zeros = torch.zeros(one.weight_hh_l0.shape[0], dtype=one.weight_hh_l0.dtype)
        self.bias_ih = nn.Parameter(one.bias_ih_l0.detach().clone() if one.bias else zeros.clone())
        self.bias_hh = nn.Parameter(one.bias_hh_l0.detach().clone() if one.bias else zeros.clone())

    def _step(self, carry, gi):
        h = carry[0]
        gh = h @ self.weight_hh.t() + self.bias_hh
        H = self.hidden_size
        if self.kind == "GRU":
            r = torch.sigmoid(gi[:, :H] + gh[:, :H])
            z = torch.sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
            n = torch.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
            h = n + z * (h - n)
            return (h,), h.clone()
        if self.kind == "LSTM":
            g = gi + gh
            c = torch.sigmoid(g[:, H:2 * H]) * carry[1] + torch.sigmoid(g[:, :H]) * torch.tanh(g[:, 2 * H:3 * H])
            h = torch.sigmoid(g[:, 3 * H:]) * torch.tanh(c)
            return (h, c), h.clone()
        h = torch.tanh(gi + gh) if self.nonlinearity == "tanh" else torch.relu(gi + gh)
        return (h,), h.clone()

    def forward(self, x: torch.Tensor):
        from torch._higher_order_ops.scan import scan

        gi = x @ self.weight_ih.t() + self.bias_ih
        h0 = x.new_zeros(x.shape[0], self.hidden_size)
        init = (h0, h0.clone()) if self.kind == "LSTM" else (h0,)
        _, outs = scan(self._step, init, gi.transpose(0, 1))
        return outs.transpose(0, 1), None


class PaddedRNN(nn.Module):
    """Layers x directions of a torch RNN on a padded batch-first input with lengths."""

    def __init__(self, cell: nn.RNNBase):
        super().__init__()
        kind = type(cell).__name__ if type(cell) in (nn.GRU, nn.LSTM, nn.RNN) else \
            next(c.__name__ for c in (nn.GRU, nn.LSTM, nn.RNN) if isinstance(cell, c))
        self.num_layers, self.hidden_size = cell.num_layers, cell.hidden_size
        self.directions = 2 if cell.bidirectional else 1
        if getattr(cell, "proj_size", 0):
            raise NotExportable("LSTM with proj_size is not supported")
        self.steps = nn.ModuleList()
        self.kind = kind
        for layer in range(cell.num_layers):
            for d in range(self.directions):
                self.steps.append(self._one(cell, kind, layer, d))

    def to_scan(self) -> "PaddedRNN":
        """Run every layer and direction as a :class:`ScanRecurrence` (for ``torch.export``)."""
        for i, one in enumerate(self.steps):
            if not isinstance(one, ScanRecurrence):
                self.steps[i] = ScanRecurrence(one, self.kind)
        return self

    @staticmethod
    def _one(cell: nn.RNNBase, kind: str, layer: int, direction: int) -> nn.RNNBase:
        in_size = cell.input_size if layer == 0 else cell.hidden_size * (2 if cell.bidirectional else 1)
        extra = {"nonlinearity": cell.nonlinearity} if kind == "RNN" else {}
        one = getattr(nn, kind)(in_size, cell.hidden_size, num_layers=1, bias=cell.bias, batch_first=True, **extra)
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if cell.bias else [])
        with torch.no_grad():
            for name in names:
                getattr(one, f"{name}_l0").copy_(getattr(cell, f"{name}{suffix}"))
        return one.to(getattr(cell, f"weight_hh{suffix}").dtype)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``x`` [B, T, I], ``lengths`` [B] int64 -> ``(outputs [B, T, D*H], last [B, D*H])``:
        the top layer's outputs (zeros past each length) and its final state, both directions
        side by side ([forward, backward]), as ``last_states`` gives them on packed input."""
        steps = x.shape[1]
        rev = reverse_within_lengths(lengths, steps)
        valid = (torch.arange(steps, device=x.device).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(2)
        last_index = (lengths - 1).view(-1, 1, 1).expand(-1, 1, self.hidden_size)
        outs: List[torch.Tensor] = []
        finals: List[torch.Tensor] = []
        for i, rnn in enumerate(self.steps):  # layer by layer, forward then backward
            backward = i % self.directions == 1
            if i % self.directions == 0:
                outs, finals = [], []
            out = rnn(_take_steps(x, rev) if backward else x)[0]
            finals.append(out.gather(1, last_index).squeeze(1))  # the state after the last valid step
            outs.append(_take_steps(out, rev) if backward else out)
            if len(outs) == self.directions:
                x = torch.cat(outs, 2)
        return x * valid.to(x.dtype), torch.cat(finals, 1)


def plain_cell(cell: nn.Module) -> nn.RNNBase:
    """``cell`` as torch's own ``nn.GRU``, ``nn.LSTM`` or ``nn.RNN`` with the same weights (a
    subclass such as :class:`~seqkit.nn.FusedGRU` becomes its base class; a cell with an
    ``exportable()`` method gives what it returns), or :class:`NotExportable`."""
    make = getattr(cell, "exportable", None)
    plain = make() if callable(make) else cell
    base = next((c for c in (nn.GRU, nn.LSTM, nn.RNN) if isinstance(plain, c)), None)
    if base is None:
        raise NotExportable(f"it is a {type(cell).__name__}, not a torch.nn.GRU, LSTM or RNN, and has no exportable() "
                            f"method returning one with the same weights")
    if type(plain) is base:
        return plain
    extra = {"nonlinearity": plain.nonlinearity} if base is nn.RNN else {}
    copy = base(plain.input_size, plain.hidden_size, num_layers=plain.num_layers, bias=plain.bias,
                batch_first=plain.batch_first, bidirectional=plain.bidirectional, **extra)
    copy.load_state_dict({k: v for k, v in plain.state_dict().items()})
    return copy.to(plain.weight_hh_l0.dtype).eval()


def exportable_cell(cell: nn.Module) -> PaddedRNN:
    """``cell`` (a trained, registered cell) as a :class:`PaddedRNN` with its weights, or a
    :class:`NotExportable` saying why it cannot be."""
    return PaddedRNN(plain_cell(cell))
