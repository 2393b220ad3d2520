"""Task checks: a task factory against the Task contract of :mod:`seqkit.engine.task`.

``factory(**options)`` (or a registered task name: ``"classify"``, ``"seq2seq"``) returns
a :class:`seqkit.engine.task.Task`, or an object with the same members. The checks walk
the calls of a run on a small in-memory dataset, in the engine's order: ``split`` ->
the encoder fitted on the training split -> ``setup`` -> ``make_collator`` ->
``build_model`` -> ``loss`` -> ``evaluate`` -> ``finalize``, then what ``seqkit
predict`` and ``seqkit eval`` do with a checkpoint: a fresh task given
``load_state_dict(state_dict())`` builds the model the trained weights load into.

The run around the task is tiny (hidden and embedding size 8, one layer, no dropout,
the ``index`` encoder, ``pack`` collator and ``gru`` cell): every check takes well under
a second. ``config=`` changes it (a dict of :class:`~seqkit.engine.config.RunConfig`
fields, e.g. ``{"encoder": "onehot", "cell": "fused-gru"}``, or a whole ``RunConfig``).

The data: ``dataset=`` (a dataset, or a function of no arguments returning a fresh one)
is what the checks split. Without it the kit probes two built-in samples of 36 short
surnames and takes the first the task accepts (its ``split``, ``setup`` and collator
work on it): sequence pairs (``(text, target_tokens)``, the data of a ``seq2seq``-like
task: ``texts``, ``lengths()``, ``subset()``, no ``labels``), then a labelled
:class:`~seqkit.data.PairDataset` (three classes, what ``classify`` takes). Pass
``dataset=`` when your task takes other data.
"""
from __future__ import annotations

import functools
import io
import json
import math
import numbers
import random
from collections import Counter
from dataclasses import dataclass, fields
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..engine.task import Task
from .core import Check, Report, _Ctx, _expect, _fail, _Failed, _resolve, _Unsupported, check_component

__all__ = ["task_checks", "check_task"]

# -- the built-in samples ---------------------------------------------------------------
_NAMES = {
    "Italian": ("Rossi", "Russo", "Bruno", "Greco", "Conti", "Gallo", "Costa", "Ricci", "Marino", "Rizzo",
                "Fontana", "Moretti"),
    "Japanese": ("Abe", "Sato", "Ito", "Kato", "Mori", "Ono", "Ueda", "Saito", "Kudo", "Endo", "Goto", "Hara"),
    "Russian": ("Ivanov", "Petrov", "Orlov", "Popov", "Sokolov", "Volkov", "Lebedev", "Kozlov", "Belov", "Pavlov",
                "Frolov", "Zotov"),
}


class _SequencePairSample(Dataset):
    """``(text, target_tokens)`` pairs in the form docs/plugins.md gives data that is not
    for classification: no ``labels``; ``texts``, ``lengths()`` and ``subset(indices)``."""

    target_joiner = ""  # the targets are characters

    def __init__(self, texts: Sequence[str], targets: Sequence[Sequence[str]]):
        self.texts, self.targets, self.source = list(texts), [tuple(t) for t in targets], "seqkit.testing sample"

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, i: int) -> tuple[str, tuple[str, ...]]:
        return self.texts[i], self.targets[i]

    def lengths(self) -> np.ndarray:
        return np.array([len(t) for t in self.texts], dtype=np.int64)

    def subset(self, indices: Iterable[int]) -> "_SequencePairSample":
        indices = [int(i) for i in indices]
        return _SequencePairSample([self.texts[i] for i in indices], [self.targets[i] for i in indices])


def _sequence_pairs() -> _SequencePairSample:
    """Every sample name -> its lowercase letters reversed (a toy transduction)."""
    texts = [t for names in _NAMES.values() for t in names]
    return _SequencePairSample(texts, [tuple(t.lower()[::-1]) for t in texts])


def _labelled() -> Any:
    """Every sample name with its language: 36 examples over 3 classes."""
    from ..data.dataset import PairDataset

    pairs = [(t, label) for label, names in _NAMES.items() for t in names]
    return PairDataset([t for t, _ in pairs], [label for _, label in pairs], source="seqkit.testing sample")


#: the samples tried, in order, when no dataset is given
_SAMPLES = (("sequence pairs", _sequence_pairs), ("labelled names", _labelled))

#: the run around the task: tiny sizes, no dropout (``config=`` overrides any of them)
_TINY_RUN = dict(encoder="index", collator="pack", cell="gru", embedding_dim=8, hidden_size=8, layers=1,
                 bidirectional=True, dropout=0.0, input_dropout=0.0, head_dropout=0.0, label_smoothing=0.0,
                 test_size=0.25, epochs=1, quiet=True)
_CPU = torch.device("cpu")
_TOP_K = 3


# -- a run's parts ----------------------------------------------------------------------
@dataclass
class _Run:
    """What the engine holds after building a run: the task, its context, the split, the
    collator and the model."""

    task: Any
    ctx: Any
    train: Any
    test: Any
    report: Any
    collator: Any = None
    model: Any = None


def _config(ctx: _Ctx):
    """The kit's run: the caller's RunConfig, else the tiny run with the caller's changes
    (checked like ``seqkit run`` options) and the check's seed as the split seed."""
    from ..engine.config import RunConfig

    given = ctx.extra["config"]
    if isinstance(given, RunConfig):
        return given
    # RunConfig.task names a registered task; the TaskContext never reads it, so a plain
    # callable's run says "classify"
    target = ctx.target.strip("'") if ctx.target.startswith("'") else "classify"
    values = {"task": target, "dataset": "seqkit.testing sample", "split_seed": ctx.seed, **_TINY_RUN,
              **(given or {})}
    return RunConfig(**values).validate()


def _context(ctx: _Ctx, encoder: Any = None):
    """The :class:`TaskContext` the engine would give the task for the kit's run."""
    from ..engine.task import TaskContext

    return TaskContext.from_config(_config(ctx), encoder=encoder, device=_CPU)


def _make_task(ctx: _Ctx):
    task = ctx.factory(**ctx.options)
    _expect(task is not None, "the factory's result", "a Task", "None")
    return task


def _make_encoder(ctx: _Ctx):
    from ..plugin import registry

    config = _config(ctx)
    return registry.encoders.create(config.encoder, **config.encoder_options)


def _is_dataset_factory(obj: Any) -> bool:
    return callable(obj) and not hasattr(obj, "__getitem__")


def _dataset(ctx: _Ctx):
    """The dataset the checks split: the caller's, else the first sample the task takes."""
    given = ctx.extra["dataset"]
    if given is not None:
        return given() if _is_dataset_factory(given) else given
    cache = ctx.extra["cache"]
    if "sample" not in cache:
        cache["sample"] = _probe(ctx)
    return dict(_SAMPLES)[cache["sample"]]()


def _probe(ctx: _Ctx) -> str:
    """The name of the first sample a fresh task splits, sets up on and collates."""
    refused = []
    for name, make in _SAMPLES:
        try:
            run = _prepare(ctx, make(), model=False)
            run.collator([run.train[i] for i in range(min(2, len(run.train)))])
            return name
        except Exception as exc:  # the task refuses this sample: try the next one
            why = str(exc) if isinstance(exc, _Failed) else \
                f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"
            refused.append(f"{name}: {why}")
    _fail(f"the task refused every built-in sample dataset ({'; '.join(refused)}); pass dataset= with data it "
          f"takes")


def _split(task, dataset, tctx) -> tuple[Any, Any, Any]:
    """``task.split``, checked for what the engine needs of its result."""
    out = task.split(dataset, tctx)
    _expect(isinstance(out, tuple) and len(out) == 3, "split(dataset, ctx)", "a tuple (train, test, report)",
            type(out).__name__ + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else ""))
    for part, ds in (("train", out[0]), ("test", out[1])):
        missing = [a for a in ("__len__", "__getitem__", "texts", "lengths") if not hasattr(ds, a)]
        _expect(not missing, f"split(): the {part} dataset (the engine fits the encoder on train.texts and "
                f"batches by lengths())", "len(), [i], .texts and .lengths()", f"missing {', '.join(missing)}")
        _expect(len(ds) > 0, f"split(): len of the {part} dataset", "> 0", len(ds))
    return out


def _prepare(ctx: _Ctx, dataset: Any = None, *, model: bool = True, seed: int | None = None) -> _Run:
    """A fresh task through the engine's calls: split -> encoder.fit(train.texts) ->
    setup -> make_collator (-> build_model, under ``seed``)."""
    task, tctx = _make_task(ctx), _context(ctx)
    train, test, report = _split(task, _dataset(ctx) if dataset is None else dataset, tctx)
    tctx.encoder = _make_encoder(ctx).fit(list(train.texts))
    task.setup(train, tctx)
    collator = task.make_collator(tctx)
    _expect(callable(collator), "make_collator(ctx)", "a callable collator", type(collator).__name__)
    run = _Run(task, tctx, train, test, report, collator)
    if model:
        torch.manual_seed(ctx.seed if seed is None else seed)
        run.model = task.build_model(tctx)
        _expect(isinstance(run.model, torch.nn.Module), "build_model(ctx)", "a torch.nn.Module",
                type(run.model).__name__)
    return run


def _items(ds) -> list:
    return [ds[i] for i in range(len(ds))]


def _batches(ctx: _Ctx, collator, items: Sequence) -> list:
    """``items`` collated in batches of ``batch_size``, in order, moved to the device as
    the engine does."""
    size = ctx.extra["batch_size"]
    return [collator(list(items[i:i + size])).to(_CPU) for i in range(0, len(items), size)]


def _evaluate(ctx: _Ctx, run: _Run, *, final: bool, task=None, collator=None, model=None) -> dict:
    """``evaluate`` as the engine calls it: eval mode, no gradients, a one-pass generator."""
    task, model = task or run.task, model or run.model
    batches = _batches(ctx, collator or run.collator, _items(run.test))
    model.eval()
    with torch.no_grad():
        metrics = task.evaluate(model, (b for b in batches), _CPU, final=final)
    _expect(isinstance(metrics, dict), f"evaluate(final={final})", "a dict of metrics", type(metrics).__name__)
    return metrics


def _json(value: Any, what: str) -> None:
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        _fail(f"{what} must be JSON-serialisable (the engine writes it with json.dumps): expected plain dict/list/"
              f"str/int/float/bool/None values, got {type(exc).__name__}: {exc}")


def _real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _loss_value(metrics: dict, what: str) -> float:
    _expect("loss" in metrics, f"{what}: its keys", "a 'loss'", sorted(metrics)[:8])
    loss = metrics["loss"]
    _expect(_real(loss) and math.isfinite(loss), f"{what}['loss']", "a finite number", repr(loss))
    return float(loss)


def _key(item: Any) -> Any:
    """A hashable stand-in for a dataset item (to count items across splits)."""
    try:
        hash(item)
        return item
    except TypeError:
        return repr(item)


def _keeping_global_rngs(func: Callable[[_Ctx], None]) -> Callable[[_Ctx], None]:
    """``func`` with Python's and numpy's global generators restored afterwards (the check
    itself restores torch's): checking a task leaves the caller's random state alone."""
    @functools.wraps(func)
    def run(ctx: _Ctx) -> None:
        py, np_state = random.getstate(), np.random.get_state()
        try:
            func(ctx)
        finally:
            random.setstate(py)
            np.random.set_state(np_state)
    return run


# -- the task checks --------------------------------------------------------------------
#: what a duck-typed task needs (a Task subclass inherits the optional ones)
_MEMBERS = ("split", "setup", "sample_weights", "make_collator", "build_model", "loss", "evaluate", "epoch_record",
            "finalize", "state_dict", "load_state_dict", "write_artifacts", "evaluation_data", "predict",
            "format_prediction")
#: what a Task subclass must override (the base class raises NotImplementedError)
_ABSTRACT = ("split", "build_model", "loss", "evaluate")


def _task_is_task(ctx: _Ctx) -> None:
    task = _make_task(ctx)
    if isinstance(task, Task):
        missing = [m for m in _ABSTRACT if getattr(type(task), m, None) is getattr(Task, m)]
        _expect(not missing, "a Task subclass's overrides", ", ".join(_ABSTRACT), f"not overridden: "
                f"{', '.join(missing)}")
    else:
        missing = [m for m in _MEMBERS if not callable(getattr(task, m, None))]
        _expect(not missing, f"the task interface of a {type(task).__name__} (not a seqkit.engine.task.Task "
                f"subclass: subclass it to inherit the defaults)", ", ".join(_MEMBERS), f"missing {', '.join(missing)}")
    headline, keys = getattr(task, "headline", None), getattr(task, "summary_keys", None)
    _expect(isinstance(headline, str) and headline, "headline", "a metric name (str)", repr(headline))
    _expect(isinstance(keys, (tuple, list)) and all(isinstance(k, str) for k in keys), "summary_keys",
            "a tuple of metric names", repr(keys))


def _task_split(ctx: _Ctx) -> None:
    """train and test together hold every example exactly once; the report is JSON; the
    same split seed gives the same split."""
    data = _dataset(ctx)
    task, tctx = _make_task(ctx), _context(ctx)
    train, test, report = _split(task, data, tctx)
    _expect(isinstance(report, dict), "split(): the report", "a dict", type(report).__name__)
    _json(report, "split(): the report")
    a, b, whole = (Counter(_key(x) for x in _items(ds)) for ds in (train, test, data))
    # an example the data holds once may not be on both sides (one it holds twice may)
    both = sorted(map(repr, (set(a) & set(b)) - {k for k, n in whole.items() if n > 1}))
    if both:
        _fail(f"train and test must be disjoint: {len(both)} examples are in both (e.g. {both[0][:60]})")
    missing, extra = whole - (a + b), (a + b) - whole
    if missing or extra:
        _fail(f"train and test must together hold every example of the data exactly once: expected "
              f"{sum(whole.values())} examples, got {sum(missing.values())} missing (e.g. "
              f"{next(iter(missing), None)!r:.60}) and {sum(extra.values())} extra or repeated (e.g. "
              f"{next(iter(extra), None)!r:.60})")
    texts = [x[0] for x in _items(train)]
    _expect(list(train.texts) == texts, "train.texts", "the texts of the train items, in order", "other texts")
    _expect(len(train.lengths()) == len(train), "len(train.lengths())", len(train), len(train.lengths()))
    again = _split(_make_task(ctx), data, _context(ctx))
    for part, first, second in (("train", train, again[0]), ("test", test, again[1])):
        _expect([_key(x) for x in _items(first)] == [_key(x) for x in _items(second)],
                f"two splits with the same split seed ({part})", "the same examples in the same order",
                "different ones (draw from ctx.split.seed, not from a global generator)")


def _task_setup_then_build(ctx: _Ctx) -> None:
    run = _prepare(ctx)
    trainable = [p for p in run.model.parameters() if p.requires_grad]
    _expect(len(trainable) > 0, "build_model(ctx): parameters that require grad", "at least one", "none")
    items = _items(run.train)[:ctx.extra["batch_size"]]
    batch = run.collator(items)
    missing = [a for a in ("to", "size", "tokens") if not hasattr(batch, a)]
    _expect(not missing, "the collator's batch (the engine calls batch.to(device), reads size and tokens)",
            "a seqkit Batch", f"{type(batch).__name__} without {', '.join(missing)}")
    _expect(batch.size == len(items), "batch.size", len(items), batch.size)


def _task_sample_weights(ctx: _Ctx) -> None:
    run = _prepare(ctx, model=False)
    w = run.task.sample_weights(run.train, run.ctx)
    if w is None:
        return  # uniform sampling
    w = np.asarray(w, dtype=np.float64)
    _expect(w.shape == (len(run.train),), "sample_weights(train): shape (one weight per example)",
            (len(run.train),), w.shape)
    _expect(bool(np.isfinite(w).all() and (w >= 0).all() and (w > 0).any()), "sample_weights(train)",
            "finite non-negative weights, some positive", w[:6].tolist())


def _task_loss(ctx: _Ctx) -> None:
    run = _prepare(ctx)
    run.model.train()
    loss = run.task.loss(run.model, _batches(ctx, run.collator, _items(run.train))[0])
    _expect(isinstance(loss, torch.Tensor), "loss(model, batch)", "a tensor", type(loss).__name__)
    _expect(loss.dim() == 0, "loss(model, batch): shape", "a scalar ()", tuple(loss.shape))
    _expect(loss.is_floating_point() and bool(torch.isfinite(loss)), "loss(model, batch)", "a finite float",
            f"{float(loss.detach()) if loss.is_floating_point() else loss.dtype}")
    _expect(loss.requires_grad, "loss(model, batch).requires_grad", True, "False (detached from the parameters)")
    loss.backward()
    params = [(n, p) for n, p in run.model.named_parameters() if p.requires_grad]
    none = [n for n, p in params if p.grad is None]
    bad = [n for n, p in params if p.grad is not None and not bool(torch.isfinite(p.grad).all())]
    if none or bad:
        _fail("gradients of the loss must reach every trainable parameter (the optimiser steps them all): "
              + "; ".join([f"{n}: no gradient" for n in none[:4]] + [f"{n}: non-finite gradient" for n in bad[:4]]))


def _task_evaluate(ctx: _Ctx) -> None:
    run = _prepare(ctx)
    headline = run.task.headline
    for final in (False, True):
        what = f"evaluate(final={final})"
        metrics = _evaluate(ctx, run, final=final)
        _json(metrics, what)
        _loss_value(metrics, what)
        _expect(_real(metrics.get(headline)), f"{what}[headline {headline!r}] (the progress line shows it)",
                "a number", repr(metrics.get(headline, "missing")))


def _task_finalize(ctx: _Ctx) -> None:
    """epoch_record gives history.jsonl's numbers; finalize's metrics hold every summary key."""
    run = _prepare(ctx)
    metrics = _evaluate(ctx, run, final=True)
    record = run.task.epoch_record(dict(metrics))
    _expect(isinstance(record, dict) and all(_real(v) for v in record.values()), "epoch_record(metrics)",
            "a dict of numbers", repr(record)[:80])
    out = run.task.finalize(metrics, train_dataset=run.train, test_dataset=run.test)
    _expect(isinstance(out, dict), "finalize(metrics, ...)", "the metrics dict", type(out).__name__)
    _json(out, "finalize(metrics, ...)")
    _loss_value(out, "finalize(metrics, ...)")
    missing = [k for k in run.task.summary_keys if k not in out]
    _expect(not missing, "the final metrics (evaluate then finalize): summary_keys", "every one present",
            f"missing {', '.join(missing)}")


def _task_state_dict(ctx: _Ctx) -> None:
    """What seqkit predict/eval do: a fresh task, its state through checkpoint.pt
    (weights_only), the encoder through its state_dict, the trained model's weights."""
    a = _prepare(ctx, seed=ctx.seed)
    want = _loss_value(_evaluate(ctx, a, final=False), "evaluate of the trained task")
    buf = io.BytesIO()
    torch.save(a.task.state_dict(), buf)
    buf.seek(0)
    try:
        state = torch.load(buf, weights_only=True)
    except Exception as exc:
        _fail(f"state_dict() must hold plain values or tensors (checkpoint.pt loads with weights_only=True), got "
              f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}")
    _expect(isinstance(state, dict), "state_dict()", "a dict", type(state).__name__)
    encoder = _make_encoder(ctx)
    encoder.load_state_dict(a.ctx.encoder.state_dict())
    task, bctx = _make_task(ctx), _context(ctx, encoder=encoder)
    task.load_state_dict(state)
    collator = task.make_collator(bctx)
    torch.manual_seed(ctx.seed + 1)  # other initial weights: only the loaded ones may make the losses agree
    model = task.build_model(bctx)
    try:
        model.load_state_dict(a.model.state_dict())
    except Exception as exc:
        _fail(f"a fresh task given load_state_dict(state_dict()) must build a model that loads the trained model's "
              f"weights, got {type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:200]}")
    got = _loss_value(_evaluate(ctx, a, final=False, task=task, collator=collator, model=model),
                      "evaluate of the reloaded task")
    _expect(math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-5),
            "evaluate loss of a fresh task loaded with state_dict() and the trained weights", want, got)


def _predictions(ctx: _Ctx, run: _Run, texts: Sequence[str]) -> list:
    """``predict`` as seqkit predict calls it: unlabelled items, eval mode, no gradients."""
    if isinstance(run.task, Task) and type(run.task).predict is Task.predict:
        raise _Unsupported("the task does not implement predict (seqkit predict needs it)")
    batch = run.collator([(t, None) for t in texts]).to(_CPU)
    run.model.eval()
    with torch.no_grad():
        try:
            preds = run.task.predict(run.model, batch, top_k=_TOP_K)
        except NotImplementedError as exc:
            raise _Unsupported(f"the task does not implement predict ({exc or 'NotImplementedError'})") from None
    return list(preds)


def _task_predict(ctx: _Ctx) -> None:
    run = _prepare(ctx)
    texts = list(run.test.texts)
    preds = _predictions(ctx, run, texts)
    _expect(len(preds) == len(texts), f"predict on a batch of {len(texts)} texts", "one prediction per text",
            len(preds))
    for p in preds:
        shown = run.task.format_prediction(p)
        _expect(isinstance(shown, str), "format_prediction(prediction)", "a str", type(shown).__name__)


def _task_predict_order(ctx: _Ctx) -> None:
    """Reordering the texts of a batch reorders their predictions the same way (as
    format_prediction shows them): predictions stay in the caller's order, whatever order
    the batch is packed in. (The same texts in both batches: a prediction may depend on
    its batch, e.g. a decoding cap taken from the longest text.)"""
    run = _prepare(ctx)
    by_length: dict[int, str] = {}
    for text in sorted(set(run.test.texts)):
        by_length.setdefault(len(text), text)
    texts = [by_length[n] for n in sorted(by_length)]  # shortest first: packing puts the longest first
    if len(texts) < 2:
        raise _Unsupported("the test split has no two texts of different lengths")
    first = [run.task.format_prediction(p) for p in _predictions(ctx, run, texts)]
    again = [run.task.format_prediction(p) for p in _predictions(ctx, run, texts[::-1])][::-1]
    for i, text in enumerate(texts):
        if i < min(len(first), len(again)) and first[i] != again[i]:
            _fail(f"prediction for {text!r} (length {len(text)}) must follow its text when the batch is reversed "
                  f"(predictions in the caller's order, not the packed longest-first order): expected "
                  f"{again[i][:80]!r}, got {first[i][:80]!r}")


def _task_deterministic(ctx: _Ctx) -> None:
    """Two runs built under the same seed give the same training loss and evaluation."""
    losses = []
    for _ in range(2):
        random.seed(ctx.seed)
        np.random.seed(ctx.seed % 2**32)
        run = _prepare(ctx, seed=ctx.seed)
        run.model.train()
        torch.manual_seed(ctx.seed + 2)  # what dropout and sampling in the loss draw from
        train_loss = float(run.task.loss(run.model, _batches(ctx, run.collator, _items(run.train))[0]).detach())
        losses.append((train_loss, _loss_value(_evaluate(ctx, run, final=False), "evaluate")))
    (a, ea), (b, eb) = losses
    # equal up to float rounding (a differently seeded weight moves a loss far more)
    _expect(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-7), "loss of the first batch in two runs built under the "
            "same seed", a, b)
    _expect(math.isclose(ea, eb, rel_tol=1e-6, abs_tol=1e-7), "evaluate loss in two runs built under the same seed",
            ea, eb)


_TASK_CHECKS = (
    ("is_task", _task_is_task),
    ("split_partitions", _task_split),
    ("setup_then_build", _task_setup_then_build),
    ("sample_weights", _task_sample_weights),
    ("loss_is_scalar_and_differentiable", _task_loss),
    ("evaluate_has_loss", _task_evaluate),
    ("finalize_summary_keys", _task_finalize),
    ("state_dict_roundtrip", _task_state_dict),
    ("predict_one_per_example", _task_predict),
    ("predict_in_caller_order", _task_predict_order),
    ("deterministic", _task_deterministic),
)


def task_checks(factory: Callable | str, *, dataset: Any = None, options: dict | None = None,
                config: Any = None, batch_size: int = 8, seed: int = 0) -> list[tuple[str, Check]]:
    """Every task check as ``(name, check)`` pairs.

    ``factory(**options)`` or a registered task name. ``dataset``: the data to split (a
    dataset, or a function of no arguments returning a fresh one); default: the first
    of the built-in samples (sequence pairs, then labelled names) that the task takes
    (see the module docstring). ``config``: :class:`~seqkit.engine.config.RunConfig`
    fields over the kit's tiny run (a dict), or a whole ``RunConfig`` (its ``split_seed``
    then splits; its ``task_options`` are not read: the factory gets ``options``).
    ``batch_size``: examples per collated batch. ``seed``: the split seed and the seed
    of the weights.
    """
    from ..engine.config import RunConfig

    fn, target = _resolve("task", factory)
    if isinstance(config, dict):
        unknown = sorted(set(config) - {f.name for f in fields(RunConfig)})
        if unknown:
            raise ValueError(f"config: {', '.join(unknown)} are not RunConfig fields")
    elif config is not None and not isinstance(config, RunConfig):
        raise TypeError(f"config must be a dict of RunConfig fields or a RunConfig, got {type(config).__name__}")
    if dataset is not None and not (_is_dataset_factory(dataset) or hasattr(dataset, "__getitem__")):
        raise TypeError(f"dataset must be a dataset or a function returning one, got {type(dataset).__name__}")
    ctx = _Ctx("task", fn, target, seed, dict(options or {}),
               {"dataset": dataset, "config": config, "batch_size": max(1, int(batch_size)), "cache": {}})
    return [(name, Check("task", name, _keeping_global_rngs(func), ctx)) for name, func in _TASK_CHECKS]


def check_task(factory: Callable | str, **kw: Any) -> Report:
    """Run every task check (see :func:`task_checks` for the keywords); return the
    :class:`Report`, raising ``ConformanceError`` naming every failed check."""
    return check_component("task", factory, **kw)
