"""Batches of sequences for the cell checks, and reading a cell's results back.

Inputs are seeded random sequences, packed (``pack_sequence(enforce_sorted=False)``) or
padded (with junk after the shorter sequences unless asked for zeros); results are
compared with each sequence run alone, which is what the contract promises.
"""
from __future__ import annotations

from typing import Sequence

import torch

from .core import _close, _Ctx, _fail, _fmt, _maxdiff

#: tolerances of the comparisons between a batch and its sequences run alone
_ATOL, _RTOL = 1e-5, 1e-4



def _seqs(ctx: _Ctx, lengths: Sequence[int], *, seed: int = 1234, dtype=None):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, ctx.extra["input_size"], generator=g, dtype=dtype or torch.float32) for n in lengths]


def _packed(seqs):
    from torch.nn.utils.rnn import pack_sequence

    return pack_sequence(list(seqs), enforce_sorted=False)


def _padded(seqs, junk: bool = True, seed: int = 99):
    """``(T, B, I)``; padded positions hold random junk unless ``junk=False`` (zeros)."""
    from torch.nn.utils.rnn import pad_sequence

    x = pad_sequence(list(seqs))
    if junk:
        g = torch.Generator().manual_seed(seed)
        noise = torch.randn(x.shape, generator=g, dtype=x.dtype)
        lengths = torch.tensor([len(s) for s in seqs])
        pad = torch.arange(x.shape[0])[:, None] >= lengths[None, :]
        x = torch.where(pad[..., None], noise, x)
    return x


def _states(h) -> list:
    """``h_n`` as a list of tensors (one for GRU-like cells, ``[h, c]`` for LSTM-like)."""
    if isinstance(h, torch.Tensor):
        return [h]
    if isinstance(h, (tuple, list)) and h and all(isinstance(t, torch.Tensor) for t in h):
        return list(h)
    _fail(f"h_n must be a tensor or a tuple of tensors (LSTM-like), got {type(h).__name__}")


def _call(cell, x, h0=None):
    out = cell(x) if h0 is None else cell(x, h0)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        _fail(f"forward must return (output, h_n) like torch.nn.GRU, got {type(out).__name__}"
              + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else ""))
    return out[0], out[1]


def _unpack(output, total_length: int | None = None):
    """Packed output -> caller-order ``(T, B, F)`` padded tensor."""
    from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

    if not isinstance(output, PackedSequence):
        _fail(f"packed input must give a PackedSequence output, got {type(output).__name__}")
    padded, _ = pad_packed_sequence(output, total_length=total_length)
    return padded


def _initial_state(ctx: _Ctx, like, B: int, seed: int = 7):
    """A random ``h0`` shaped like ``h_n`` (a tuple when h_n is one)."""
    g = torch.Generator().manual_seed(seed)
    states = [0.5 * torch.randn(s.shape[0], B, *s.shape[2:], generator=g, dtype=s.dtype) for s in _states(like)]
    return states[0] if isinstance(like, torch.Tensor) else tuple(states)


def _select_state(h0, i: int):
    if h0 is None:
        return None
    if isinstance(h0, torch.Tensor):
        return h0[:, i:i + 1].contiguous()
    return tuple(s[:, i:i + 1].contiguous() for s in h0)


def _compare_alone(ctx: _Ctx, cell, seqs, out_padded, h, *, what: str, h0=None) -> None:
    """Every sequence of the batch gives the output and last states it gives alone
    (``h=None``: compare outputs only; ``out_padded=None``: states only)."""
    batch_states = _states(h) if h is not None else []
    lengths = [len(s) for s in seqs]
    order = sorted(range(len(seqs)), key=lambda i: -lengths[i])
    for i, s in enumerate(seqs):
        out_i, h_i = _call(cell, s.unsqueeze(1), _select_state(h0, i))
        alone = _states(h_i)
        for k, (b, a) in enumerate(zip(batch_states, alone)):
            if not _close(b[:, i:i + 1], a, atol=_ATOL, rtol=_RTOL):
                hint = ""
                j = order.index(i)
                if j != i and j < b.shape[1] and _close(b[:, j:j + 1], a, atol=_ATOL, rtol=_RTOL):
                    hint = (" -- it is at position {} instead, the sorted (longest-first) order: return h_n in the "
                            "caller's order (index_select(1, PackedSequence.unsorted_indices))".format(j))
                name = "h_n" if k == 0 else f"h_n[{k}]"
                _fail(f"{what}: {name}[:, {i}] (sequence {i}, length {lengths[i]}) differs from running that sequence "
                      f"alone ({_maxdiff(b[:, i:i + 1], a)}): expected {_fmt(a)}, got {_fmt(b[:, i:i + 1])}{hint}")
        if out_padded is not None:
            got = out_padded[:lengths[i], i]
            want = out_i[:, 0]
            if not _close(got, want, atol=_ATOL, rtol=_RTOL):
                _fail(f"{what}: output of sequence {i} (length {lengths[i]}) differs from running it alone "
                      f"({_maxdiff(got, want)}): expected {_fmt(want)}, got {_fmt(got)}")
