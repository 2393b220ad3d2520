"""One GRU layer in one direction over packed data: :func:`gru_layer`.

It runs ``torch.ops.seqkit.gru_forward`` (C++ on the CPU, CUDA where built) where the
backend is ``cpp`` and the tensors suit the kernel, else the pure-PyTorch reference;
:func:`register_python_side` registers the fake kernels of ``gru_forward`` and
``gru_backward`` and the autograd formula of ``gru_forward`` (which calls ``gru_backward``),
and the fake kernels of the bidirectional ops.
:func:`gru_layer_bidir` runs both directions of a bidirectional layer, on the CPU at the same
time (``seqkit::gru_bidir_forward``: one direction per thread) where that pays.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor

from . import runtime


def gru_layer(input: Tensor, batch_sizes: Tensor, h0: Tensor, w_ih: Tensor, w_hh: Tensor,
              b_ih: Optional[Tensor] = None, b_hh: Optional[Tensor] = None,
              reverse: bool = False) -> Tuple[Tensor, Tensor]:
    """One GRU layer in one direction over packed data; returns ``(output [N, H], h_n [B, H])``.

    ``input`` is ``PackedSequence.data``: float rows ``[N, I]`` or int symbol indices ``[N]``
    (then ``w_ih`` is ``[3H, num_symbols]`` and the input projection is a column gather).
    ``batch_sizes`` is the CPU int64 ``PackedSequence.batch_sizes``, ``h0`` is ``[B, H]`` with
    ``B = batch_sizes[0]`` in packed (sorted) order. ``reverse=True`` runs the sequence
    backward (the second direction of a bidirectional GRU). Gates as ``torch.nn.GRU``.
    Differentiable with respect to input (dense), h0 and the weights. The compiled kernel
    serves float32/float64 tensors on the CPU, and on CUDA when seqkit._C was built with
    the CUDA kernels; anything else (another device, half precision) takes the reference
    path. Under ``torch.autocast("cpu", dtype=torch.bfloat16)`` the CPU kernel runs in mixed
    precision: bf16 operands for the GEMMs (float32 accumulation), float32 state, gates and
    outputs, gradients in the parameters' dtype (float32), as autocast treats a Linear.
    """
    dev = w_hh.device.type
    cpp = runtime.backend() == "cpp"
    if _mixed_cpu(cpp, input, w_hh):
        x, bs, h, w = _mixed_args(input, h0, (w_ih, w_hh, b_ih, b_hh), batch_sizes=batch_sizes)
        out, h_n, _, _ = torch.ops.seqkit.gru_forward(x, bs, h, *w, bool(reverse))
        return out, h_n
    if (cpp and input.device.type == dev
            and (dev == "cpu" or (dev == "cuda" and runtime.has_cuda_kernels()
                                  and (not input.is_floating_point() or input.dtype == w_hh.dtype)
                                  and h0.dtype == w_hh.dtype))
            and w_hh.dtype in (torch.float32, torch.float64)):
        out, h_n, _, _ = torch.ops.seqkit.gru_forward(input, batch_sizes, h0, w_ih, w_hh, b_ih, b_hh,
                                                      bool(reverse))
        return out, h_n
    return _gru_layer_reference(input, batch_sizes, h0, w_ih, w_hh, b_ih, b_hh, bool(reverse))


def gru_layer_bidir(input: Tensor, batch_sizes: Tensor, h0: Tensor, h0_reverse: Tensor,
                    weights: Tuple[Optional[Tensor], ...], weights_reverse: Tuple[Optional[Tensor], ...],
                    embedding: Optional[Tensor] = None) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Both directions of a bidirectional layer: ``(output, output_reverse, h_n, h_n_reverse)``.

    Equal to ``gru_layer(..., reverse=False)`` and ``gru_layer(..., reverse=True)`` on the same
    input (``weights`` = ``(w_ih, w_hh, b_ih, b_hh)`` of each direction, biases may be None).
    With ``embedding`` E (``[V, I]``; ``input`` is then symbol indices), equal to feeding the
    rows ``E[input]``: the input projection is folded into a gather of ``W_ih @ E^T``, and E
    gets its gradient.
    On the CPU with the compiled backend and two or three threads, one op runs the two
    recurrences at the same time, one per thread, each on the whole batch (a direction split
    across threads waits on GEMMs of a few rows at every step), the folded tables included;
    with one thread, four or more (each direction then gets them all), or elsewhere, the two
    directions run in turn.
    """
    if _concurrent(input, weights[1]) and all(
            w is None or (w.device.type == "cpu" and w.dtype == weights[1].dtype) for w in weights + weights_reverse):
        if _mixed_cpu(True, input, weights[1]):
            x, bs, h, wf = _mixed_args(input, h0, weights, batch_sizes=batch_sizes)
            _, _, h_r, wr = _mixed_args(input, h0_reverse, weights_reverse, batch_sizes=batch_sizes)
            out = torch.ops.seqkit.gru_bidir_forward(x, bs, h, h_r, *wf, *wr, embedding)
        else:
            out = torch.ops.seqkit.gru_bidir_forward(input, batch_sizes, h0, h0_reverse, *weights, *weights_reverse,
                                                     embedding)
        return out[0], out[1], out[2], out[3]
    if embedding is not None:  # folded here: W_ih @ E^T, gathered by the index path
        weights = (weights[0] @ embedding.t(),) + tuple(weights[1:])
        weights_reverse = (weights_reverse[0] @ embedding.t(),) + tuple(weights_reverse[1:])
    out, h_n = gru_layer(input, batch_sizes, h0, *weights, reverse=False)
    out_r, h_n_r = gru_layer(input, batch_sizes, h0_reverse, *weights_reverse, reverse=True)
    return out, out_r, h_n, h_n_r


def _concurrent(input: Tensor, w_hh: Tensor) -> bool:
    """Whether gru_layer_bidir runs the directions in one op, one per thread (see there)."""
    return (runtime.backend() == "cpp" and input.device.type == "cpu" and w_hh.device.type == "cpu"
            and w_hh.dtype in (torch.float32, torch.float64) and 2 <= torch.get_num_threads() <= 3
            and (not input.is_floating_point() or input.dtype == w_hh.dtype or _autocast_bf16_cpu()))


def _mixed_cpu(cpp: bool, input: Tensor, w_hh: Tensor) -> bool:
    """Whether the CPU kernel runs in mixed precision here (bf16 autocast, float32 weights)."""
    return (cpp and w_hh.device.type == "cpu" and input.device.type == "cpu" and w_hh.dtype == torch.float32
            and _autocast_bf16_cpu())


def _mixed_args(input, h0, weights, *, batch_sizes):
    """Mixed-precision arguments: bf16 operands for the GEMMs (the weights cast here,
    differentiably, as autocast casts a Linear's), float32 input, state and biases."""
    w_ih, w_hh, b_ih, b_hh = weights
    x = input.float() if input.is_floating_point() else input
    return x, batch_sizes, h0.float(), (w_ih.to(torch.bfloat16), w_hh.to(torch.bfloat16),
                                        None if b_ih is None else b_ih.float(),
                                        None if b_hh is None else b_hh.float())


def _autocast_bf16_cpu() -> bool:
    """Whether ``torch.autocast("cpu", dtype=torch.bfloat16)`` is active here."""
    return torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16


def _gru_layer_reference(input, batch_sizes, h0, w_ih, w_hh, b_ih, b_hh, reverse):
    """Pure PyTorch, autograd over small ops (the fallback and the tests' second opinion)."""
    if input.is_floating_point():
        gi = input @ w_ih.t()
    else:
        gi = w_ih.t()[input.long()]
    if b_ih is not None:
        gi = gi + b_ih
    H = w_hh.shape[1]
    bs = batch_sizes.tolist()
    offs = [0]
    for b in bs:
        offs.append(offs[-1] + b)
    steps = range(len(bs) - 1, -1, -1) if reverse else range(len(bs))
    h = h0
    outs = [None] * len(bs)
    for t in steps:
        b = bs[t]
        hp = h[:b]
        gh = hp @ w_hh.t()
        if b_hh is not None:
            gh = gh + b_hh
        x = gi[offs[t]:offs[t] + b]
        r = torch.sigmoid(x[:, :H] + gh[:, :H])
        z = torch.sigmoid(x[:, H:2 * H] + gh[:, H:2 * H])
        n = torch.tanh(x[:, 2 * H:] + r * gh[:, 2 * H:])
        hn = n + z * (hp - n)
        outs[t] = hn
        h = torch.cat([hn, h[b:]], 0) if b < h.shape[0] else hn
    return torch.cat(outs, 0), h


def register_python_side() -> None:
    """Fake kernels of ``seqkit::gru_forward`` / ``gru_backward`` and the autograd of ``gru_forward``."""
    lib = torch.ops.seqkit

    @torch.library.register_fake("seqkit::gru_forward")
    def _gru_forward_fake(input, batch_sizes, h0, w_ih, w_hh, b_ih, b_hh, reverse):
        n = input.shape[0]
        h = w_hh.shape[1]
        # h0 has the compute dtype (float32 also when the weights are bfloat16: mixed precision)
        return (h0.new_empty((n, h)), h0.new_empty(h0.shape), h0.new_empty((n, 4 * h)),
                h0.new_empty((n, h)))

    @torch.library.register_fake("seqkit::gru_backward")
    def _gru_backward_fake(grad_output, grad_hn, input, batch_sizes, h0, w_ih, w_hh, gates, hprev,
                           reverse, has_bias, input_grad, h0_grad):
        g = w_hh.shape[0]
        dense = input.is_floating_point()
        gin = h0.new_empty(input.shape) if dense and input_grad else h0.new_empty((0,))
        gb = (g,) if has_bias else (0,)
        gh0 = h0.new_empty(h0.shape) if h0_grad else h0.new_empty((0,))
        return (gin, gh0, w_ih.new_empty(w_ih.shape), w_hh.new_empty(w_hh.shape),
                h0.new_empty(gb), h0.new_empty(gb))

    def _setup_context(ctx, inputs, output):
        input, batch_sizes, h0, w_ih, w_hh, b_ih, b_hh, reverse = inputs
        _, _, gates, hprev = output
        ctx.save_for_backward(input, batch_sizes, h0, w_ih, w_hh, gates, hprev)
        # Outputs that the loss does not use get None, not zeros: gates and hprev never
        # need a gradient, and a classifier uses h_n only (saves filling [N, 6H] zeros)
        ctx.set_materialize_grads(False)
        ctx.reverse = reverse
        ctx.bias = (b_ih is not None, b_hh is not None)

    def _backward(ctx, grad_output, grad_hn, _grad_gates, _grad_hprev):
        input, batch_sizes, h0, w_ih, w_hh, gates, hprev = ctx.saved_tensors
        if grad_output is None:  # only h_n was used: an empty grad_output stands for zeros
            grad_output = hprev.new_empty((0,))
        if grad_hn is None:
            grad_hn = h0.new_zeros(h0.shape)
        need = ctx.needs_input_grad
        dense = input.is_floating_point()
        has_bias = ctx.bias[0] or ctx.bias[1]
        g_in, g_h0, g_wih, g_whh, g_bih, g_bhh = lib.gru_backward(
            grad_output, grad_hn, input, batch_sizes, h0, w_ih, w_hh, gates, hprev, ctx.reverse,
            has_bias, bool(need[0] and dense), bool(need[2]))
        return (g_in if need[0] and dense else None, None, g_h0 if need[2] else None,
                g_wih if need[3] else None, g_whh if need[4] else None,
                g_bih if need[5] and ctx.bias[0] else None,
                g_bhh if need[6] and ctx.bias[1] else None, None)

    torch.library.register_autograd("seqkit::gru_forward", _backward, setup_context=_setup_context)
    _register_bidir()


def _register_bidir() -> None:
    """Fake kernels of ``gru_bidir_forward`` / ``gru_bidir_backward`` (the forward's autograd is
    registered in C++, csrc/torch/gru_bidir.cpp: a Python formula cost 0.2 ms a step)."""

    @torch.library.register_fake("seqkit::gru_bidir_forward")
    def _bidir_forward_fake(input, batch_sizes, h0, h0_reverse, w_ih, w_hh, b_ih, b_hh, w_ih_reverse,
                            w_hh_reverse, b_ih_reverse, b_hh_reverse, embedding=None):
        n, h = input.shape[0], w_hh.shape[1]
        return (h0.new_empty((n, h)), h0.new_empty((n, h)), h0.new_empty(h0.shape), h0.new_empty(h0.shape),
                h0.new_empty((n, 4 * h)), h0.new_empty((n, h)), h0.new_empty((n, 4 * h)), h0.new_empty((n, h)))

    @torch.library.register_fake("seqkit::gru_bidir_backward")
    def _bidir_backward_fake(grad_output, grad_output_reverse, grad_hn, grad_hn_reverse, input, batch_sizes, h0,
                             h0_reverse, w_ih, w_hh, w_ih_reverse, w_hh_reverse, gates, hprev, gates_reverse,
                             hprev_reverse, has_bias, input_grad, h0_grad, embedding=None):
        g = w_hh.shape[0]
        gin = h0.new_empty(input.shape) if input.is_floating_point() and input_grad else h0.new_empty((0,))
        gb = (g,) if has_bias else (0,)
        gh0 = (lambda: h0.new_empty(h0.shape)) if h0_grad else (lambda: h0.new_empty((0,)))
        per_dir = lambda w_i, w_h: (w_i.new_empty(w_i.shape), w_h.new_empty(w_h.shape), h0.new_empty(gb),
                                    h0.new_empty(gb))
        gemb = embedding.new_empty(embedding.shape) if embedding is not None else h0.new_empty((0,))
        return (gin, gh0(), gh0(), *per_dir(w_ih, w_hh), *per_dir(w_ih_reverse, w_hh_reverse), gemb)

