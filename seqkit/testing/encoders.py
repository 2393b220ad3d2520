"""Encoder checks: an encoder factory against the encoder contract of docs/plugins.md.

``factory(**options)`` returns an encoder: ``fit(texts) -> self``, ``encode(text) ->
list[int]`` in ``[0, size)`` that never produces ``pad_index`` (0), ``decode``,
``size`` (reserved symbols included), ``unk_index`` (1), ``one_hot``, ``symbols`` and a
JSON-able ``state_dict()``. Any Unicode text must encode: the checks fit on
:data:`UNICODE_TEXTS` and also encode :data:`UNSEEN_TEXTS`.
"""
from __future__ import annotations

import json
import numbers
from typing import Any, Callable, Sequence

from .core import Check, Report, _Ctx, _expect, _fail, _resolve, check_component

__all__ = ["UNICODE_TEXTS", "UNSEEN_TEXTS", "encoder_checks", "check_encoder"]


#: Real-ish texts to fit on: names in many scripts, combining marks, emoji.
UNICODE_TEXTS = (
    "Smith", "O'Neill", "Müller", "Dvořák", "Łukasiewicz", "Nguyễn", "Nguye\u0302\u0303n", "Ó Briain",
    "Иванов", "Дмитриевич", "Παπαδόπουλος", "李", "王小明", "山田太郎", "김민준", "محمد", "כהן",
    "नमस्ते", "e\u0301", "Zoë", "Zoe\u0308", "🙂", "👩\u200d🔬", "a b", "x", "Jean-Luc", "St. John",
)
#: Texts that were never fitted on: unseen scripts, emoji, controls, noncharacters, empty.
UNSEEN_TEXTS = (
    "Ωmega", "ß", "\u00a0nbsp", "🦜", "\U0001F600x", "", "\t", "\u200d", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "\ufffd",
    "\U0010fffe\U0010ffff", "\x00", "ǅ", "ﬁ", "\u0301", "🇫🇷", "ä" * 50,
)


def _make_encoder(ctx: _Ctx, fit: bool = True):
    enc = ctx.factory(**ctx.options)
    if fit:
        got = enc.fit(list(ctx.extra["texts"]))
        _expect(got is enc, "fit(texts) return value", "the encoder itself (self)", type(got).__name__)
    return enc


def _encode(enc, text: str) -> list[int]:
    out = enc.encode(text)
    _expect(isinstance(out, (list, tuple)), f"encode({text!r}) type", "a list of ints", type(out).__name__)
    bad = [v for v in out if isinstance(v, bool) or not isinstance(v, numbers.Integral)]
    _expect(not bad, f"encode({text!r}) values", "ints", bad[:3])
    return [int(v) for v in out]


def _encoder_interface(ctx: _Ctx) -> None:
    enc = _make_encoder(ctx, fit=False)
    missing = [a for a in ("fit", "encode", "decode", "state_dict", "load_state_dict")
               if not callable(getattr(enc, a, None))]
    missing += [a for a in ("size", "pad_index", "unk_index", "one_hot", "symbols") if not hasattr(enc, a)]
    _expect(not missing, "the encoder interface", "fit, encode, decode, state_dict, load_state_dict, size, pad_index, "
            "unk_index, one_hot, symbols", f"missing {', '.join(missing)}")
    _expect(enc.pad_index == 0, "pad_index", 0, enc.pad_index)
    _expect(enc.unk_index == 1, "unk_index", 1, enc.unk_index)
    _expect(isinstance(enc.one_hot, bool), "one_hot", "a bool", type(enc.one_hot).__name__)
    _make_encoder(ctx, fit=True)


def _encoder_range(ctx: _Ctx) -> None:
    enc = _make_encoder(ctx)
    size = enc.size
    _expect(isinstance(size, numbers.Integral) and size >= 2, "size", "an int >= 2 (pad and unk are reserved)", size)
    for text in tuple(ctx.extra["texts"]) + UNSEEN_TEXTS:
        idx = _encode(enc, text)
        out = [v for v in idx if not 0 <= v < size]
        if out:
            _fail(f"encode({text!r}) must give indices in [0, size={size}), got {idx} (out of range: {out[:3]})")


def _encoder_no_pad(ctx: _Ctx) -> None:
    enc = _make_encoder(ctx)
    for text in tuple(ctx.extra["texts"]) + UNSEEN_TEXTS:
        idx = _encode(enc, text)
        if enc.pad_index in idx:
            _fail(f"encode({text!r}) must never produce pad_index {enc.pad_index} (reserved for padding), got {idx}")


def _encoder_size(ctx: _Ctx) -> None:
    enc = _make_encoder(ctx)
    symbols = list(enc.symbols)
    _expect(len(symbols) == enc.size, "len(symbols) (every symbol in index order, reserved ones included)",
            enc.size, len(symbols))
    seen = set()
    for text in ctx.extra["texts"]:
        seen.update(_encode(enc, text))
    real = seen - {enc.pad_index, enc.unk_index}
    _expect(len(real) + 2 <= enc.size, "size (counting pad and unk)", f">= {len(real) + 2} (distinct symbols used + 2)",
            enc.size)
    _expect(all(2 <= v for v in real), "indices of real symbols", ">= 2 (0 and 1 are pad and unk)", sorted(real)[:5])
    if enc.size > 2:
        _expect(bool(real), "symbols used by the fitted texts", "at least one real (non-unk) symbol", "only unk")


def _encoder_nonempty(ctx: _Ctx) -> None:
    enc = _make_encoder(ctx)
    for text in ctx.extra["texts"]:
        if text.strip():
            _expect(len(_encode(enc, text)) > 0, f"encode({text!r}) length", ">= 1 symbol", 0)
    _expect(_encode(enc, "") == [], 'encode("")', [], _encode(enc, ""))


def _encoder_decode(ctx: _Ctx) -> None:
    enc = _make_encoder(ctx)
    symbols = list(enc.symbols)
    reserved = {enc.pad_index, enc.unk_index}
    kept = []
    for i, s in enumerate(symbols):
        if i in reserved or not isinstance(s, str) or not s:
            continue
        if _encode(enc, s) == [i]:
            kept.append(s)
    if enc.size > 2 and not kept:
        _fail("decode round trip: expected symbols that encode to their own index (encode(symbols[i]) == [i]), "
              "got none")
    text = "".join(kept)
    got = enc.decode(_encode(enc, text))
    _expect(got == text, "decode(encode(text)) for in-alphabet text", repr(text[:60]), repr(got[:60]))
    for t in ctx.extra["texts"]:
        idx = _encode(enc, t)
        if enc.unk_index in idx:
            continue
        again = _encode(enc, enc.decode(idx))
        _expect(again == idx, f"encode(decode(encode({t!r})))", idx, again)


def _encoder_state(ctx: _Ctx) -> None:
    enc = _make_encoder(ctx)
    state = enc.state_dict()
    try:
        blob = json.dumps(state)
    except (TypeError, ValueError) as exc:
        _fail(f"state_dict() must be JSON-serialisable (checkpoints load with weights_only=True): expected plain "
              f"dict/list/str/int/float/bool/None values, got {type(exc).__name__}: {exc}")
    fresh = ctx.factory(**ctx.options)
    fresh.load_state_dict(json.loads(blob))
    _expect(fresh.size == enc.size, "size after load_state_dict into a fresh instance", enc.size, fresh.size)
    _expect(list(fresh.symbols) == list(enc.symbols), "symbols after load_state_dict", list(enc.symbols)[:8],
            list(fresh.symbols)[:8])
    _expect(fresh.one_hot == enc.one_hot, "one_hot after load_state_dict", enc.one_hot, fresh.one_hot)
    for text in tuple(ctx.extra["texts"]) + UNSEEN_TEXTS:
        a, b = _encode(enc, text), _encode(fresh, text)
        _expect(a == b, f"encode({text!r}) after load_state_dict into a fresh instance", a, b)
    again = json.loads(json.dumps(fresh.state_dict()))
    _expect(again == json.loads(blob), "state_dict() of the reloaded encoder", "the original state",
            "a different state")


def _encoder_deterministic(ctx: _Ctx) -> None:
    a, b = _make_encoder(ctx), _make_encoder(ctx)
    for text in tuple(ctx.extra["texts"]) + UNSEEN_TEXTS:
        x, y = _encode(a, text), _encode(b, text)
        _expect(x == y, f"two encoders fitted on the same texts: encode({text!r})", x, y)


_ENCODER_CHECKS = (
    ("interface", _encoder_interface),
    ("encode_range", _encoder_range),
    ("pad_never_produced", _encoder_no_pad),
    ("size_counts_reserved", _encoder_size),
    ("nonempty_encoding", _encoder_nonempty),
    ("decode_roundtrip", _encoder_decode),
    ("state_dict_json_roundtrip", _encoder_state),
    ("fit_deterministic", _encoder_deterministic),
)


def encoder_checks(factory: Callable | str, *, texts: Sequence[str] | None = None, options: dict | None = None,
                   seed: int = 0) -> list[tuple[str, Check]]:
    """Every encoder check as ``(name, check)`` pairs.

    ``factory(**options)`` or a registered encoder name; ``texts``: what to fit on
    (default :data:`UNICODE_TEXTS`: Latin with diacritics, Cyrillic, Greek, CJK, Hangul,
    Arabic, Hebrew, Devanagari, combining marks, emoji). :data:`UNSEEN_TEXTS` are
    encoded too.
    """
    fn, target = _resolve("encoder", factory)
    ctx = _Ctx("encoder", fn, target, seed, dict(options or {}),
               {"texts": tuple(texts) if texts is not None else UNICODE_TEXTS})
    return [(name, Check("encoder", name, func, ctx)) for name, func in _ENCODER_CHECKS]


def check_encoder(factory: Callable | str, **kw: Any) -> Report:
    """Run every encoder check (see :func:`encoder_checks` for the keywords)."""
    return check_component("encoder", factory, **kw)
