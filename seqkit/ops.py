"""seqkit's compiled ops and their pure-PyTorch references.

This module is the only place that knows which implementation runs:

- ``"cpp"``: the C++ kernels of ``csrc/`` (``seqkit._C``: installed by ``pip install``, or
  built once from a source checkout with ``torch.utils.cpp_extension.load`` into
  ``$SEQKIT_CACHE``, default ``~/.cache/seqkit``);
- ``"reference"``: pure PyTorch, used when the extension cannot be loaded (one warning)
  or when the environment variable ``SEQKIT_BACKEND=reference`` asks for it
  (``SEQKIT_BACKEND=cpp`` makes a missing extension an error instead);
- ``"cuda"`` is reserved for the CUDA kernels.

Public API:

- :func:`backend` -> ``"cpp"`` or ``"reference"``
- :func:`encode_pack` (list of str -> PackedSequence)
- :func:`encode_pack_corpus` (flat pre-encoded corpus + row indices -> PackedSequence)
- :func:`gru_layer` (one GRU layer, one direction, on packed data; differentiable)

The compiled ops are ``torch.ops.seqkit.encode_pack_corpus``, ``torch.ops.seqkit.gru_forward``
and ``torch.ops.seqkit.gru_backward``; their fake kernels and the autograd formula of
``gru_forward`` (which calls ``gru_backward``) are registered here with
``torch.library.register_fake`` / ``torch.library.register_autograd``.
"""
from __future__ import annotations

import os
import warnings
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_sequence

__all__ = ["backend", "backend_reason", "encode_pack", "encode_pack_corpus", "gru_layer"]

_ext = None
_ext_tried = False
_ext_reason = ""


def _load_extension():
    """Load (or build) seqkit._C once; warn once if it is unavailable."""
    global _ext, _ext_tried, _ext_reason
    if not _ext_tried:
        _ext_tried = True
        from . import _extension

        _ext, _ext_reason = _extension.load()
        if _ext is None:
            warnings.warn(
                f"seqkit: compiled ops unavailable ({_ext_reason}); using the pure-PyTorch "
                "reference implementation (slower). Install a C++ compiler and reinstall, or set "
                "SEQKIT_BACKEND=reference to silence this.",
                RuntimeWarning,
                stacklevel=3,
            )
        else:
            _register_python_side()
    return _ext


def backend() -> str:
    """Which implementation the ops use now: ``"cpp"`` or ``"reference"``.

    Reads ``SEQKIT_BACKEND`` (``auto`` (default), ``cpp``, ``reference``) on every call, so
    tests can switch with ``monkeypatch.setenv``. The first call that needs the extension
    loads it (building it once from ``csrc/`` in a source checkout).
    """
    forced = os.environ.get("SEQKIT_BACKEND", "auto").strip().lower() or "auto"
    if forced == "reference":
        return "reference"
    if forced not in ("auto", "cpp"):
        raise ValueError(f"SEQKIT_BACKEND={forced!r} is not one of 'auto', 'cpp', 'reference'")
    ext = _load_extension()
    if ext is None:
        if forced == "cpp":
            raise RuntimeError(f"SEQKIT_BACKEND=cpp but the compiled ops are unavailable: {_ext_reason}")
        return "reference"
    return "cpp"


def backend_reason() -> str:
    """One line on where the compiled ops came from, or why they are unavailable."""
    b = backend()
    if b == "reference" and not _ext_tried:
        return "SEQKIT_BACKEND=reference"
    return _ext_reason


# --------------------------------------------------------------------------------------
# encode-and-pack
# --------------------------------------------------------------------------------------

def _alphabet_str(alphabet: Union[str, Sequence[str]]) -> str:
    if isinstance(alphabet, str):
        return alphabet
    chars = list(alphabet)
    for i, c in enumerate(chars):
        if not isinstance(c, str) or len(c) != 1:
            raise ValueError(f"encode_pack: alphabet[{i}] = {c!r} is not a single character; "
                             "pass a str or a sequence of 1-character strings")
    return "".join(chars)


def encode_pack(
    texts: Sequence[str],
    alphabet: Union[str, Sequence[str]],
    *,
    one_hot: bool = False,
    unknown: Optional[int] = None,
    drop_empty: bool = False,
):
    """Encode texts with ``alphabet`` and pack them into a ``PackedSequence`` in one pass.

    Symbol ``i`` is ``alphabet[i]`` (any Unicode; a repeated character maps to its first
    index, like ``str.find``). ``data`` holds int64 symbol indices ``[N]`` or, with
    ``one_hot=True``, float32 one-hot rows ``[N, len(alphabet)]``. Texts are sorted by
    length, descending and stable (equal lengths keep their input order); ``batch_sizes``
    is CPU int64; ``sorted_indices`` / ``unsorted_indices`` map between input and packed
    order as in ``pack_padded_sequence(..., enforce_sorted=False)``. Unpacking with
    ``pad_packed_sequence`` gives exactly the course's ``batched_name_rep`` encoding (its
    argmax for indices). Note: torch's own ``enforce_sorted=False`` sort is not stable
    for batches of 17 or more, so with tied lengths its ``sorted_indices`` (and the order of
    those rows in ``data``) may differ; ``batch_sizes`` and the unpacked batch are the same.

    Args:
        texts: a list/tuple (or iterable) of str.
        alphabet: a str or a sequence of single characters.
        one_hot: float32 one-hot rows instead of int64 indices.
        unknown: symbol index for characters outside the alphabet; ``None`` raises a
            ValueError naming the text index, the text, the position and the character.
        drop_empty: zero-length texts raise a ValueError naming their index unless this is
            True; then they are dropped, one warning names the dropped indices, and the
            return value is ``(packed, kept)`` with ``kept`` the int64 tensor of the input
            indices that were packed (``packed`` sequence ``j`` is ``texts[kept[j]]``).

    Returns:
        ``PackedSequence``, or ``(PackedSequence, kept)`` when ``drop_empty=True``.
    """
    if not isinstance(texts, (list, tuple)):
        texts = list(texts)
    alpha = _alphabet_str(alphabet)
    if unknown is not None:
        unknown = int(unknown)
        if not 0 <= unknown < len(alpha):
            raise ValueError(f"encode_pack: unknown={unknown} is outside the alphabet "
                             f"(size {len(alpha)}); use an index of the alphabet")
    if backend() == "cpp":
        data, batch_sizes, sorted_indices, unsorted_indices, kept = _ext.encode_pack_texts(
            texts, alpha, bool(one_hot), -1 if unknown is None else unknown, bool(drop_empty))
    else:
        data, batch_sizes, sorted_indices, unsorted_indices, kept = _encode_pack_reference(
            texts, alpha, bool(one_hot), unknown, bool(drop_empty))
    packed = PackedSequence(data, batch_sizes, sorted_indices, unsorted_indices)
    if not drop_empty:
        return packed
    if kept.numel() < len(texts):
        mask = torch.ones(len(texts), dtype=torch.bool)
        mask[kept] = False
        dropped = mask.nonzero().flatten().tolist()
        warnings.warn(f"encode_pack: dropped {len(dropped)} empty text(s) at indices {dropped}",
                      UserWarning, stacklevel=2)
    return packed, kept


def _encode_pack_reference(texts, alpha, one_hot, unknown, drop_empty):
    """Pure PyTorch: one index tensor per text, pad_sequence, pack_padded_sequence."""
    table = {}
    for i, c in enumerate(alpha):
        table.setdefault(c, i)
    seqs, kept = [], []
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"encode_pack: texts[{i}] is a {type(text).__name__}, expected str")
        if not text:
            if not drop_empty:
                raise ValueError(f"encode_pack: texts[{i}] is empty; a packed sequence needs length "
                                 ">= 1: remove it or pass drop_empty=True")
            continue
        codes = []
        for pos, ch in enumerate(text):
            sym = table.get(ch)
            if sym is None:
                if unknown is None:
                    raise ValueError(
                        f"encode_pack: texts[{i}] = {text!r} has character {ch!r} (U+{ord(ch):04X}) "
                        f"at position {pos}, which is not in the alphabet; add it to the alphabet "
                        "or pass unknown=<symbol index>")
                sym = unknown
            codes.append(sym)
        seqs.append(torch.tensor(codes, dtype=torch.int64))
        kept.append(i)
    if not seqs:
        raise ValueError("encode_pack: texts is empty; pass at least one text" if not texts
                         else "encode_pack: every text is empty; nothing to pack")
    return _pack_index_tensors(seqs, len(alpha) if one_hot else None) + (
        torch.tensor(kept, dtype=torch.int64),)


def _pack_index_tensors(seqs, one_hot_width):
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.int64)
    _, order = torch.sort(lengths, descending=True, stable=True)
    padded = pad_sequence([seqs[i] for i in order.tolist()])
    packed = pack_padded_sequence(padded, lengths[order], enforce_sorted=True)
    data = packed.data
    if one_hot_width is not None:
        data = torch.nn.functional.one_hot(data, one_hot_width).to(torch.float32)
    return data, packed.batch_sizes, order, torch.argsort(order)


def encode_pack_corpus(symbols, offsets, rows, *, num_symbols: Optional[int] = None,
                       one_hot: bool = False) -> PackedSequence:
    """Pack texts ``symbols[offsets[r]:offsets[r+1]]`` for ``r`` in ``rows`` (a pre-encoded corpus).

    ``symbols`` is a flat 1-D buffer of symbol indices (numpy array or tensor, any integer
    dtype, read in place), ``offsets`` has ``n + 1`` entries (int32/int64 read in place),
    ``rows`` the corpus indices of this batch. No Python object is built per text. Output
    as :func:`encode_pack` (same sort, same layout); ``num_symbols`` is the one-hot width
    (required with ``one_hot=True``) and, when given, the bound every symbol is checked
    against. Empty rows raise a ValueError naming them.
    """
    symbols = _as_tensor(symbols, "symbols")
    offsets = _as_tensor(offsets, "offsets")
    rows = _as_tensor(rows, "rows")
    if one_hot and num_symbols is None:
        raise ValueError("encode_pack_corpus: one_hot=True needs num_symbols (the one-hot width)")
    n_sym = -1 if num_symbols is None else int(num_symbols)
    if backend() == "cpp":
        data, batch_sizes, sorted_indices, unsorted_indices = torch.ops.seqkit.encode_pack_corpus(
            symbols, offsets, rows, n_sym, bool(one_hot))
    else:
        data, batch_sizes, sorted_indices, unsorted_indices = _encode_pack_corpus_reference(
            symbols, offsets, rows, n_sym, bool(one_hot))
    return PackedSequence(data, batch_sizes, sorted_indices, unsorted_indices)


def _as_tensor(x, name):
    if isinstance(x, Tensor):
        return x
    try:
        import numpy as np

        if isinstance(x, np.ndarray):
            x = np.ascontiguousarray(x)
            if not x.flags.writeable:  # a read-only corpus buffer: the ops only read it
                import warnings

                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
                    return torch.from_numpy(x)
            return torch.from_numpy(x)
    except ImportError:  # pragma: no cover
        pass
    return torch.as_tensor(x, dtype=torch.int64)


def _encode_pack_corpus_reference(symbols, offsets, rows, num_symbols, one_hot):
    offsets = offsets.to(torch.int64)
    n = offsets.numel() - 1
    if rows.numel() == 0:
        raise ValueError("encode_pack_corpus: rows is empty; pass at least one row")
    seqs = []
    for i, r in enumerate(rows.tolist()):
        if not 0 <= r < n:
            raise IndexError(f"encode_pack_corpus: rows[{i}] = {r} is outside the corpus of {n} texts")
        a, e = int(offsets[r]), int(offsets[r + 1])
        if e <= a:
            raise ValueError(f"encode_pack_corpus: rows[{i}] = {r} is an empty text; a packed "
                             "sequence needs length >= 1: drop it from rows")
        s = symbols[a:e].to(torch.int64)
        bad = (s < 0) | (s >= num_symbols) if num_symbols >= 0 else (s < 0)
        if bool(bad.any()):
            t = int(bad.nonzero()[0])
            raise ValueError(f"encode_pack_corpus: symbol {int(s[t])} at position {t} of rows[{i}] "
                             f"= {r} is outside [0, {num_symbols}); fix the corpus or num_symbols")
        seqs.append(s)
    return _pack_index_tensors(seqs, num_symbols if one_hot else None)


# --------------------------------------------------------------------------------------
# GRU layer
# --------------------------------------------------------------------------------------

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
    cpp = backend() == "cpp"
    if (cpp and dev == "cpu" and input.device.type == "cpu" and w_hh.dtype == torch.float32
            and _autocast_bf16_cpu()):
        # mixed precision: bf16 operands for the GEMMs (the weights cast here, differentiably,
        # as autocast casts a Linear's), float32 input, state, gates and outputs
        x = input.float() if input.is_floating_point() else input
        out, h_n, _, _ = torch.ops.seqkit.gru_forward(
            x, batch_sizes, h0.float(), w_ih.to(torch.bfloat16), w_hh.to(torch.bfloat16),
            None if b_ih is None else b_ih.float(), None if b_hh is None else b_hh.float(), bool(reverse))
        return out, h_n
    if (cpp and input.device.type == dev
            and (dev == "cpu" or (dev == "cuda" and _has_cuda_kernels()
                                  and (not input.is_floating_point() or input.dtype == w_hh.dtype)
                                  and h0.dtype == w_hh.dtype))
            and w_hh.dtype in (torch.float32, torch.float64)):
        out, h_n, _, _ = torch.ops.seqkit.gru_forward(input, batch_sizes, h0, w_ih, w_hh, b_ih, b_hh,
                                                      bool(reverse))
        return out, h_n
    return _gru_layer_reference(input, batch_sizes, h0, w_ih, w_hh, b_ih, b_hh, bool(reverse))


def _autocast_bf16_cpu() -> bool:
    """Whether ``torch.autocast("cpu", dtype=torch.bfloat16)`` is active here."""
    return torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16


def _has_cuda_kernels() -> bool:
    """Whether seqkit._C was built with the CUDA kernels (setup.py's CUDAExtension path)."""
    try:
        return bool(torch._C._dispatch_has_kernel_for_dispatch_key("seqkit::gru_forward", "CUDA"))
    except (RuntimeError, AttributeError):
        return False


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


# --------------------------------------------------------------------------------------
# fake kernels and autograd of the compiled ops (registered once, when they load)
# --------------------------------------------------------------------------------------

def _register_python_side():
    lib = torch.ops.seqkit

    @torch.library.register_fake("seqkit::encode_pack_corpus")
    def _encode_pack_corpus_fake(symbols, offsets, rows, num_symbols, one_hot):
        ctx = torch.library.get_ctx()
        total = ctx.new_dynamic_size()
        steps = ctx.new_dynamic_size()
        n = rows.shape[0]
        if one_hot:
            data = symbols.new_empty((total, num_symbols), dtype=torch.float32)
        else:
            data = symbols.new_empty((total,), dtype=torch.int64)
        return (data, rows.new_empty((steps,), dtype=torch.int64),
                rows.new_empty((n,), dtype=torch.int64), rows.new_empty((n,), dtype=torch.int64))

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
