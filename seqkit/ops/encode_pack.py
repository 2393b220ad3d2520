"""Encode-and-pack: raw strings (or a pre-encoded corpus) -> ``PackedSequence`` in one pass.

:func:`encode_pack` and :func:`encode_pack_corpus` run the compiled op where the backend
is ``cpp`` (``seqkit._C.encode_pack_texts``, ``torch.ops.seqkit.encode_pack_corpus``) and
the pure-PyTorch reference otherwise; :func:`register_python_side` registers the op's fake
kernel (``torch.library.register_fake``).
"""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Optional, Sequence, Union

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_sequence

from . import runtime

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np


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
) -> "PackedSequence | tuple[PackedSequence, Tensor]":
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
    if runtime.backend() == "cpp":
        data, batch_sizes, sorted_indices, unsorted_indices, kept = runtime.compiled().encode_pack_texts(
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


def encode_pack_corpus(symbols: "Tensor | np.ndarray", offsets: "Tensor | np.ndarray", rows: "Tensor | np.ndarray", *,
                       num_symbols: Optional[int] = None, one_hot: bool = False) -> PackedSequence:
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
    if runtime.backend() == "cpp":
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


def register_python_side() -> None:
    """The fake kernel of ``seqkit::encode_pack_corpus`` (called once, when the extension loads)."""
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
