"""Collator checks: a collator factory against the collator contract of docs/plugins.md.

``factory(encoder, *, labels=None, **options)`` returns a callable on a list of
``(text, label)`` pairs returning a :class:`seqkit.data.batch.Batch` whose ``inputs``
(packed or padded int64 symbol indices), ``lengths`` (CPU int64) and ``targets`` stay in
the caller's order. The central check (``aligned_with_items_alone``) runs a small
reference GRU over the batch and over every item collated alone: sorting inside the
collator must not misalign inputs, lengths and targets.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

from .core import Check, Report, _close, _Ctx, _expect, _fail, _maxdiff, _resolve, _Unsupported, check_component

__all__ = ["collator_checks", "check_collator"]


_COLLATE_ITEMS = (
    ("Nakamura", "c"), ("Ó Briain", "a"), ("李", "b"), ("Дмитриевич", "c"), ("Zoë", "a"),
    ("x", "b"), ("Müller-Lüdenscheidt", "a"), ("Abe", "c"),
)


def _collator_encoder(ctx: _Ctx):
    enc = ctx.extra.get("encoder")
    if enc is None:
        from ..data.encoding import Encoder

        enc = Encoder(None).fit([t for t, _ in ctx.extra["items"]])
    return enc


def _make_collator(ctx: _Ctx, encoder=None):
    enc = encoder if encoder is not None else _collator_encoder(ctx)
    col = ctx.factory(enc, labels=list(ctx.extra["labels"]), **ctx.options)
    _expect(callable(col), "the factory's result", "a callable collator", type(col).__name__)
    return col, enc


def _collate(col, items):
    from ..data.batch import Batch

    batch = col(list(items))
    _expect(isinstance(batch, Batch), "the collator's result", "a seqkit.batch.Batch", type(batch).__name__)
    return batch


def _per_item_indices(col, batch) -> list[list[int]]:
    """The symbol indices of every item, in the caller's order, read back from the batch."""
    from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

    lengths = batch.lengths.tolist()
    if isinstance(batch.inputs, PackedSequence):
        padded, plen = pad_packed_sequence(batch.inputs, padding_value=-1)
        return [padded[:plen[i], i].tolist() for i in range(padded.shape[1])]
    x = batch.inputs
    _expect(isinstance(x, torch.Tensor), "inputs", "a PackedSequence or a padded tensor", type(x).__name__)
    if getattr(col, "batch_first", False):
        x = x.t()
    return [x[:lengths[i], i].tolist() for i in range(x.shape[1])]


def _collator_returns_batch(ctx: _Ctx) -> None:
    from torch.nn.utils.rnn import PackedSequence

    col, enc = _make_collator(ctx)
    batch = _collate(col, ctx.extra["items"])
    x = batch.inputs
    if isinstance(x, PackedSequence):
        _expect(x.data.dtype == torch.int64 and x.data.dim() == 1, "PackedSequence inputs: data",
                "int64 symbol indices of shape [N]", f"{x.data.dtype} of shape {tuple(x.data.shape)}")
    else:
        _expect(isinstance(x, torch.Tensor), "inputs", "a PackedSequence or a padded (T, B) tensor",
                type(x).__name__)
        _expect(x.dtype == torch.int64 and x.dim() == 2, "padded inputs", "an int64 (T, B) tensor",
                f"{x.dtype} of shape {tuple(x.shape)}")


def _collator_lengths(ctx: _Ctx) -> None:
    col, enc = _make_collator(ctx)
    items = ctx.extra["items"]
    batch = _collate(col, items)
    L = batch.lengths
    _expect(isinstance(L, torch.Tensor), "lengths type", "a torch.Tensor", type(L).__name__)
    _expect(L.dtype == torch.int64, "lengths dtype", torch.int64, L.dtype)
    _expect(L.device.type == "cpu", "lengths device (pack_padded_sequence needs CPU lengths)", "cpu", L.device)
    _expect(tuple(L.shape) == (len(items),), "lengths shape (B,)", (len(items),), tuple(L.shape))
    want = [len(enc.encode(t)) for t, _ in items]
    _expect(L.tolist() == want, "lengths in the caller's order (len(encoder.encode(text)))", want, L.tolist())


def _collator_inputs_match(ctx: _Ctx) -> None:
    from torch.nn.utils.rnn import PackedSequence

    col, enc = _make_collator(ctx)
    items = ctx.extra["items"]
    batch = _collate(col, items)
    x = batch.inputs
    if isinstance(x, PackedSequence):
        _expect(int(x.data.numel()) == sum(batch.lengths.tolist()), "PackedSequence data size (sum of lengths)",
                sum(batch.lengths.tolist()), int(x.data.numel()))
    else:
        T = x.shape[1] if getattr(col, "batch_first", False) else x.shape[0]
        _expect(T == max(batch.lengths.tolist()), "padded inputs: T (the longest sequence)",
                max(batch.lengths.tolist()), T)
    got = _per_item_indices(col, batch)
    for i, (text, _) in enumerate(items):
        want = list(enc.encode(text))
        if got[i] != want:
            _fail(f"item {i} ({text!r}): its inputs must be encoder.encode(text) at position {i} (the caller's "
                  f"order): expected {want}, got {got[i]}")


def _collator_targets(ctx: _Ctx) -> None:
    col, enc = _make_collator(ctx)
    items = ctx.extra["items"]
    labels = list(ctx.extra["labels"])
    batch = _collate(col, items)
    t = batch.targets
    _expect(isinstance(t, torch.Tensor), "targets type", "an int64 tensor", type(t).__name__)
    _expect(t.dtype == torch.int64, "targets dtype", torch.int64, t.dtype)
    want = [labels.index(lab) for _, lab in items]
    _expect(t.tolist() == want, "targets in the caller's order (class indices into labels)", want, t.tolist())


def _reference_features(batch, enc, *, bidirectional: bool):
    """A small seeded embedding + GRU reading the batch exactly as seqkit's models do."""
    from torch.nn.utils.rnn import PackedSequence

    from ..nn.packed import last_states, map_packed

    torch.manual_seed(0)
    emb = torch.nn.Embedding(enc.size, 4, padding_idx=enc.pad_index)
    gru = torch.nn.GRU(4, 3, bidirectional=bidirectional)
    with torch.no_grad():
        x = batch.inputs
        x = map_packed(emb, x) if isinstance(x, PackedSequence) else emb(x)
        return last_states(gru, x, batch.lengths, bidirectional=bidirectional)


def _collator_aligned(ctx: _Ctx) -> None:
    """A reference GRU over the batch gives, for every item, what it gives on the item
    collated alone, and the item's target is the one it has alone: sorting inside the
    collator must not misalign inputs, lengths and targets."""
    col, enc = _make_collator(ctx)
    if getattr(col, "batch_first", False):
        raise _Unsupported("batch_first collators: the reference model reads (T, B) input")
    items = ctx.extra["items"]
    batch = _collate(col, items)
    for bidir in (False, True):
        feats = _reference_features(batch, enc, bidirectional=bidir)
        for i, item in enumerate(items):
            one = _collate(col, [item])
            alone = _reference_features(one, enc, bidirectional=bidir)
            if not _close(feats[i], alone[0], atol=1e-5, rtol=1e-4):
                _fail(f"item {i} ({item[0]!r}): a reference {'bi' if bidir else 'uni'}directional GRU over the batch "
                      f"must give what it gives on the item collated alone ({_maxdiff(feats[i], alone[0])}); inputs "
                      f"and lengths must stay in the caller's order and padded positions must not count")
            if one.targets is not None and batch.targets is not None and int(batch.targets[i]) != int(one.targets[0]):
                _fail(f"item {i} ({item[0]!r}): target in the batch must be the item's own: expected "
                      f"{int(one.targets[0])}, got {int(batch.targets[i])}")


def _collator_padding(ctx: _Ctx) -> None:
    from torch.nn.utils.rnn import PackedSequence

    col, enc = _make_collator(ctx)
    batch = _collate(col, ctx.extra["items"])
    if isinstance(batch.inputs, PackedSequence):
        raise _Unsupported("inputs are a PackedSequence: there are no padded positions")
    x = batch.inputs.t() if getattr(col, "batch_first", False) else batch.inputs
    lengths = batch.lengths
    pad = torch.arange(x.shape[0])[:, None] >= lengths[None, :]
    vals = sorted(set(x[pad].tolist()))
    _expect(vals == [enc.pad_index] or not vals, "padded positions (after each sequence's length)",
            f"only pad_index {enc.pad_index}", vals)
    valid = x[~pad]
    _expect(not bool((valid == enc.pad_index).any()), "positions within each sequence's length",
            f"no pad_index {enc.pad_index}", "pad_index inside a sequence")


def _collator_batch_of_one(ctx: _Ctx) -> None:
    col, enc = _make_collator(ctx)
    for item in (ctx.extra["items"][3], ("x", ctx.extra["labels"][0])):
        batch = _collate(col, [item])
        _expect(batch.lengths.tolist() == [len(enc.encode(item[0]))], f"a batch of one {item[0]!r}: lengths",
                [len(enc.encode(item[0]))], batch.lengths.tolist())
        _expect(batch.targets is not None and batch.targets.tolist() == [list(ctx.extra["labels"]).index(item[1])],
                f"a batch of one {item[0]!r}: targets", [list(ctx.extra["labels"]).index(item[1])],
                None if batch.targets is None else batch.targets.tolist())
        got = _per_item_indices(col, batch)
        _expect(got == [list(enc.encode(item[0]))], f"a batch of one {item[0]!r}: inputs",
                [list(enc.encode(item[0]))], got)


def _collator_length_one(ctx: _Ctx) -> None:
    col, enc = _make_collator(ctx)
    labels = list(ctx.extra["labels"])
    items = [("x", labels[-1]), ("李", labels[0]), ("a", labels[0])]
    batch = _collate(col, items)
    _expect(batch.lengths.tolist() == [1, 1, 1], "texts of one character: lengths", [1, 1, 1],
            batch.lengths.tolist())
    got = _per_item_indices(col, batch)
    want = [list(enc.encode(t)) for t, _ in items]
    _expect(got == want, "texts of one character: inputs in the caller's order", want, got)
    _expect(batch.targets.tolist() == [labels.index(l) for _, l in items], "texts of one character: targets",
            [labels.index(l) for _, l in items], batch.targets.tolist())


def _collator_label_forms(ctx: _Ctx) -> None:
    """Labels may be class names, class indices or None (targets None)."""
    col, enc = _make_collator(ctx)
    labels = list(ctx.extra["labels"])
    items = list(ctx.extra["items"])
    named = _collate(col, items).targets
    indexed = _collate(col, [(t, labels.index(l)) for t, l in items]).targets
    _expect(indexed is not None and indexed.tolist() == named.tolist(),
            "targets for class-index labels (same as for class names)", named.tolist(),
            None if indexed is None else indexed.tolist())
    none = _collate(col, [(t, None) for t, _ in items])
    _expect(none.targets is None, "targets when every label is None", None, none.targets)


def _collator_deterministic(ctx: _Ctx) -> None:
    from torch.nn.utils.rnn import PackedSequence

    col, enc = _make_collator(ctx)
    items = list(ctx.extra["items"])
    copy = list(items)
    a, b = _collate(col, items), _collate(col, items)
    _expect(items == copy, "the items list after collating", "unchanged", "modified in place")
    ta = a.inputs.data if isinstance(a.inputs, PackedSequence) else a.inputs
    tb = b.inputs.data if isinstance(b.inputs, PackedSequence) else b.inputs
    same = torch.equal(ta, tb) and torch.equal(a.lengths, b.lengths) and torch.equal(a.targets, b.targets)
    _expect(same, "collating the same items twice", "identical batches", "different batches")


_COLLATOR_CHECKS = (
    ("returns_batch", _collator_returns_batch),
    ("lengths", _collator_lengths),
    ("inputs_match_encoding", _collator_inputs_match),
    ("targets", _collator_targets),
    ("aligned_with_items_alone", _collator_aligned),
    ("padding", _collator_padding),
    ("batch_of_one", _collator_batch_of_one),
    ("length_one", _collator_length_one),
    ("label_forms", _collator_label_forms),
    ("deterministic", _collator_deterministic),
)


def collator_checks(factory: Callable | str, *, encoder: Any = None, items: Sequence[tuple[str, str]] | None = None,
                    labels: Sequence[str] | None = None, options: dict | None = None,
                    seed: int = 0) -> list[tuple[str, Check]]:
    """Every collator check as ``(name, check)`` pairs.

    ``factory(encoder, *, labels=None, **options)`` or a registered collator name.
    ``encoder``: a fitted encoder (default: :class:`seqkit.encoding.Encoder` fitted on
    ``items``); ``items``/``labels``: the ``(text, label)`` batch to collate (default: 8
    names of mixed lengths and scripts, labels ``a, b, c``).
    """
    fn, target = _resolve("collator", factory)
    items = tuple(items) if items is not None else _COLLATE_ITEMS
    labels = tuple(labels) if labels is not None else tuple(sorted({l for _, l in items}))
    ctx = _Ctx("collator", fn, target, seed, dict(options or {}),
               {"encoder": encoder, "items": items, "labels": labels})
    return [(name, Check("collator", name, func, ctx)) for name, func in _COLLATOR_CHECKS]


def check_collator(factory: Callable | str, **kw: Any) -> Report:
    """Run every collator check (see :func:`collator_checks` for the keywords)."""
    return check_component("collator", factory, **kw)
