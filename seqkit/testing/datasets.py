"""Dataset checks: a dataset factory against the dataset contract of docs/plugins.md.

``factory(path=None, **options)`` returns a ``torch.utils.data.Dataset`` of ``(text,
label)`` string pairs with ``.labels``, the sorted distinct class names, indexes
deterministically, raises ``IndexError`` past its end and accepts the engine's
``on_bad_line="error"|"skip"``. (Datasets of sequence pairs for the ``seq2seq`` task
have no labels: check them through the task, :func:`seqkit.testing.check_task`.)
"""
from __future__ import annotations

import numbers
from typing import Any, Callable, Iterable

from .core import Check, Report, _Ctx, _expect, _fail, _resolve, check_component

__all__ = ["dataset_checks", "check_dataset"]


def _make_dataset(ctx: _Ctx, **more):
    return ctx.factory(**{**ctx.options, **more})


def _indices(n: int, limit: int) -> Iterable[int]:
    if n <= limit:
        return range(n)
    step = max(1, n // limit)
    return sorted(set(list(range(0, n, step)) + [n - 1]))


def _dataset_is_dataset(ctx: _Ctx) -> None:
    from torch.utils.data import Dataset

    ds = _make_dataset(ctx)
    _expect(isinstance(ds, Dataset), "the factory's result", "a torch.utils.data.Dataset", type(ds).__name__)
    n = len(ds)
    _expect(isinstance(n, numbers.Integral) and n > 0, "len(dataset)", "> 0", n)


def _dataset_items(ctx: _Ctx) -> None:
    ds = _make_dataset(ctx)
    for i in _indices(len(ds), ctx.extra["limit"]):
        item = ds[i]
        if not (isinstance(item, tuple) and len(item) == 2):
            _fail(f"dataset[{i}] must be a (text, label) tuple, got {type(item).__name__} {item!r:.80}")
        text, label = item
        if not isinstance(text, str) or not isinstance(label, str):
            _fail(f"dataset[{i}] must be (str, str), got ({type(text).__name__}, {type(label).__name__}) {item!r:.80}")
        if not text.strip():
            _fail(f"dataset[{i}]: text must be non-empty (recurrent cells need at least one step), got {text!r}")
        if not label.strip():
            _fail(f"dataset[{i}]: label must be non-empty, got {label!r}")


def _dataset_labels(ctx: _Ctx) -> None:
    ds = _make_dataset(ctx)
    labels = getattr(ds, "labels", None)
    _expect(labels is not None, "dataset.labels", "the sorted class names", "no labels attribute")
    labels = list(labels)
    _expect(all(isinstance(l, str) for l in labels), "dataset.labels entries", "str",
            sorted({type(l).__name__ for l in labels}))
    _expect(labels == sorted(labels), "dataset.labels order", f"sorted {sorted(labels)[:6]}", labels[:6])
    _expect(len(set(labels)) == len(labels), "dataset.labels", "distinct names",
            sorted({l for l in labels if labels.count(l) > 1})[:6])
    used = {ds[i][1] for i in _indices(len(ds), ctx.extra["limit"])}
    missing = sorted(used - set(labels))
    _expect(not missing, "dataset.labels covering every item's label", "every label listed", f"missing {missing[:6]}")


def _dataset_deterministic(ctx: _Ctx) -> None:
    a, b = _make_dataset(ctx), _make_dataset(ctx)
    _expect(len(a) == len(b), "two datasets from the same factory call: len", len(a), len(b))
    _expect(list(a.labels) == list(b.labels), "two datasets from the same factory call: labels", list(a.labels)[:6],
            list(b.labels)[:6])
    for i in _indices(len(a), ctx.extra["limit"]):
        x, y, z = a[i], a[i], b[i]
        if not x == y:
            _fail(f"dataset[{i}] twice: expected the same item, got {x!r} then {y!r}")
        if not x == z:
            _fail(f"dataset[{i}] of two instances made with the same arguments: expected {x!r}, got {z!r}")


def _dataset_index_error(ctx: _Ctx) -> None:
    ds = _make_dataset(ctx)
    try:
        item = ds[len(ds)]
    except IndexError:
        return
    _fail(f"dataset[len(dataset)] must raise IndexError (the sequence protocol), got {item!r:.80}")


def _dataset_on_bad_line(ctx: _Ctx) -> None:
    """The engine passes ``on_bad_line="error"|"skip"``: the factory accepts both."""
    base = _make_dataset(ctx)
    for mode in ("error", "skip"):
        try:
            ds = _make_dataset(ctx, on_bad_line=mode)
        except TypeError as exc:
            _fail(f"factory(on_bad_line={mode!r}) must be accepted (the engine passes it), got TypeError: {exc}")
        _expect(len(ds) == len(base), f"len with on_bad_line={mode!r} on good data", len(base), len(ds))


_DATASET_CHECKS = (
    ("is_dataset", _dataset_is_dataset),
    ("items_are_pairs", _dataset_items),
    ("labels", _dataset_labels),
    ("indexing_deterministic", _dataset_deterministic),
    ("index_out_of_range", _dataset_index_error),
    ("on_bad_line", _dataset_on_bad_line),
)


def dataset_checks(factory: Callable | str, *, options: dict | None = None, limit: int = 50_000, seed: int = 0,
                   **kw: Any) -> list[tuple[str, Check]]:
    """Every dataset check as ``(name, check)`` pairs.

    ``factory(path=None, **options)`` or a registered dataset name; pass the data as
    ``path=...`` (and any other factory option as a keyword or in ``options``).
    ``limit``: check every item up to this many, else an even sample.
    """
    fn, target = _resolve("dataset", factory)
    ctx = _Ctx("dataset", fn, target, seed, {**(options or {}), **kw}, {"limit": int(limit)})
    return [(name, Check("dataset", name, func, ctx)) for name, func in _DATASET_CHECKS]


def check_dataset(factory: Callable | str, **kw: Any) -> Report:
    """Run every dataset check (see :func:`dataset_checks`; pass the data as ``path=``)."""
    return check_component("dataset", factory, **kw)
