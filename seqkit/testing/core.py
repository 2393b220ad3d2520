"""Conformance checks for seqkit components: cells, collators, encoders and datasets.

In the spirit of scikit-learn's ``check_estimator`` / ``parametrize_with_checks``: a
plugin author checks a factory against the contract of docs/plugins.md with one call::

    from seqkit.testing import check_cell
    report = check_cell(MyCell)          # raises ConformanceError naming the failed check(s)
    print(report)                        # passed / skipped (with reasons) per check

or turns every check into its own pytest case::

    from seqkit.testing import parametrize_checks

    @parametrize_checks("cell", MyCell)
    def test_my_cell(check):
        check()

A factory may be a callable or the name of a registered component (``"gru"``).

Options a component does not support are *skipped*, not failed: when a cell factory
raises ``ValueError`` or ``NotImplementedError`` for, say, ``bidirectional=True``, the
checks of that configuration are reported as skipped with the factory's message (under
pytest they call ``pytest.skip``; :func:`check_cell` lists them in the returned
:class:`Report`). The basic configuration (one unidirectional layer, no dropout) must
be supported.

The checks use only the contract (``forward(x, h0=None) -> (output, h_n)`` on a
``PackedSequence`` or a ``(T, B, I)`` tensor, ...), never the class of a component:
torch's own modules are merely one implementation that passes.
"""
from __future__ import annotations

import io
import json
import numbers
import sys
import unittest
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import torch

from ..errors import SeqkitError

__all__ = [
    "KINDS", "CellConfig", "CELL_CONFIGS", "ConformanceError", "CheckSkipped", "CheckResult", "Report", "Check",
    "check_cell", "check_collator", "check_encoder", "check_dataset", "check_component",
    "cell_checks", "collator_checks", "encoder_checks", "dataset_checks", "checks",
    "check_names", "run_check", "parametrize_checks",
    "UNICODE_TEXTS", "UNSEEN_TEXTS",
]

KINDS = ("cell", "collator", "encoder", "dataset")


# -- errors, results ------------------------------------------------------------------
class ConformanceError(SeqkitError, AssertionError):
    """A component breaks its plugin contract.

    ``check``: the (first) failed check's name; ``kind``: cell, collator, encoder or
    dataset; ``failures``: every failed ``(check, message)``; ``report``: the full
    :class:`Report` when raised by ``check_*``.
    """

    def __init__(self, message: str, *, check: str | None = None, kind: str | None = None,
                 failures: Sequence[tuple[str, str]] = (), report: "Report | None" = None):
        super().__init__(message)
        self.check, self.kind = check, kind
        self.failures = list(failures) or ([(check, message)] if check else [])
        self.report = report


class CheckSkipped(unittest.SkipTest):
    """A check that does not apply (an option the component refuses, no CUDA, ...).

    Raised by a check callable outside pytest; under pytest the callable calls
    ``pytest.skip`` instead. A ``unittest.SkipTest``, so unittest skips it too.
    """


class _Unsupported(Exception):
    """Internal: the check does not apply; the message is the reason."""


class _Failed(Exception):
    """Internal: the check failed; the message says what was expected and what came."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: ``status`` is ``"passed"``, ``"skipped"`` or ``"failed"``."""

    name: str
    status: str
    reason: str = ""

    def __str__(self) -> str:
        return f"{self.status:<7} {self.name}" + (f": {self.reason}" if self.reason else "")


@dataclass
class Report:
    """Every check run by ``check_*`` on one component, in order."""

    kind: str
    target: str
    results: list[CheckResult] = field(default_factory=list)

    def _with(self, status: str) -> list[CheckResult]:
        return [r for r in self.results if r.status == status]

    @property
    def passed(self) -> list[CheckResult]:
        return self._with("passed")

    @property
    def skipped(self) -> list[CheckResult]:
        return self._with("skipped")

    @property
    def failed(self) -> list[CheckResult]:
        return self._with("failed")

    @property
    def ok(self) -> bool:
        return not self.failed

    def __getitem__(self, name: str) -> CheckResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    def __str__(self) -> str:
        head = (f"{self.kind} {self.target}: {len(self.passed)} passed, {len(self.skipped)} skipped, "
                f"{len(self.failed)} failed")
        return "\n".join([head] + [f"  {r}" for r in self.results])


# -- check plumbing -------------------------------------------------------------------
_REGISTRY_KIND = {"cell": "cells", "collator": "collators", "encoder": "encoders", "dataset": "datasets"}


def _resolve(kind: str, factory: Any) -> tuple[Callable, str]:
    """A callable factory and a description of it; a string is a registered name."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if isinstance(factory, str):
        name = factory

        def make(*args, **kwargs):
            from ..plugin import registry

            return getattr(registry, _REGISTRY_KIND[kind]).create(name, *args, **kwargs)

        make.__name__ = make.__qualname__ = name
        return make, f"'{name}'"
    if not callable(factory):
        raise TypeError(f"a {kind} factory must be callable or a registered name, got {type(factory).__name__}")
    desc = getattr(factory, "__qualname__", None) or getattr(factory, "__name__", None) or repr(factory)
    module = getattr(factory, "__module__", None)
    return factory, (f"{module}.{desc}" if module and module not in ("builtins", "__main__") else desc)


def _target_id(factory: Any) -> str:
    if isinstance(factory, str):
        return factory
    return getattr(factory, "__name__", None) or type(factory).__name__


class Check:
    """One conformance check bound to a component: call it to run it.

    Raises :class:`ConformanceError` when the component fails; skips (``pytest.skip``
    under pytest, else :class:`CheckSkipped`) when the check does not apply.
    ``name``: the check's name (the pytest id); ``kind``, ``target``.
    """

    def __init__(self, kind: str, name: str, func: Callable[["_Ctx"], None], ctx: "_Ctx"):
        self.kind, self.name, self._func, self._ctx = kind, name, func, ctx
        self.target = ctx.target

    def __repr__(self) -> str:
        return f"<Check {self.kind} {self.name} on {self.target}>"

    def outcome(self) -> CheckResult:
        """Run the check and return its result instead of raising or skipping."""
        try:
            self._run()
        except _Unsupported as exc:
            return CheckResult(self.name, "skipped", str(exc))
        except ConformanceError as exc:
            return CheckResult(self.name, "failed", str(exc))
        return CheckResult(self.name, "passed")

    def _run(self) -> None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self._ctx.seed)
            try:
                self._func(self._ctx)
            except _Unsupported:
                raise
            except _Failed as exc:
                raise ConformanceError(self._message(str(exc)), check=self.name, kind=self.kind) from None
            except ConformanceError:
                raise
            except Exception as exc:  # anything the component raised is a failure of the check
                first = (str(exc).strip().splitlines() or [""])[0]
                raise ConformanceError(
                    self._message(f"raised {type(exc).__name__}: {first}"), check=self.name, kind=self.kind) from exc

    def _message(self, detail: str) -> str:
        return f"{self.kind} check '{self.name}' failed for {self.target}: {detail}"

    def __call__(self) -> None:
        try:
            self._run()
        except _Unsupported as exc:
            reason = f"{self.name}: {exc}"
            if "pytest" in sys.modules:
                import pytest

                pytest.skip(reason)
            raise CheckSkipped(reason) from None


@dataclass
class _Ctx:
    kind: str
    factory: Callable
    target: str
    seed: int = 0
    options: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


def _fail(detail: str) -> None:
    raise _Failed(detail)


def _expect(cond: bool, what: str, expected: Any, got: Any) -> None:
    if not cond:
        raise _Failed(f"{what}: expected {expected}, got {got}")


# -- tensor helpers -------------------------------------------------------------------
def _close(a, b, *, atol: float, rtol: float) -> bool:
    return a.shape == b.shape and bool(torch.allclose(a.detach().cpu().double(), b.detach().cpu().double(),
                                                      atol=atol, rtol=rtol, equal_nan=False))


def _maxdiff(a, b) -> str:
    if a.shape != b.shape:
        return f"shapes {tuple(a.shape)} vs {tuple(b.shape)}"
    return f"max abs diff {float((a.detach().cpu().double() - b.detach().cpu().double()).abs().max()):.3g}"


def _fmt(t, limit: int = 6) -> str:
    vals = [round(float(v), 4) for v in t.detach().flatten()[:limit].cpu()]
    return "[" + ", ".join(str(v) for v in vals) + (", ...]" if t.numel() > limit else "]")


# ======================================================================================
# cells
# ======================================================================================
@dataclass(frozen=True)
class CellConfig:
    """One combination of the cell factory's standard options; ``name`` goes into check ids."""

    name: str
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    def kwargs(self) -> dict:
        return {"num_layers": self.num_layers, "dropout": self.dropout, "bidirectional": self.bidirectional}

    def describe(self) -> str:
        """The options that differ from the defaults (``bidirectional=True``), or "the defaults"."""
        base = CellConfig("").kwargs()
        diff = [f"{k}={v!r}" for k, v in self.kwargs().items() if v != base[k]]
        return ", ".join(diff) or "the default options (num_layers=1, dropout=0.0, bidirectional=False)"


#: The configurations every per-configuration cell check runs under; the first is the
#: basic one every cell must support.
CELL_CONFIGS = (
    CellConfig("uni"),
    CellConfig("bi", bidirectional=True),
    CellConfig("2layers", num_layers=2),
    CellConfig("2layers-bi", num_layers=2, bidirectional=True),
)
_DROPOUT_CONFIG = CellConfig("2layers-dropout", num_layers=2, dropout=0.5)
_ATOL, _RTOL = 1e-5, 1e-4
_LENGTHS = (3, 6, 1, 4, 6)  # unsorted, with a tie and a length-one sequence


def _make_cell(ctx: _Ctx, cfg: CellConfig, *, seed: int | None = None, dtype=None):
    base = ctx.extra["configs"][0]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(ctx.seed if seed is None else seed)
        try:
            cell = ctx.factory(ctx.extra["input_size"], ctx.extra["hidden_size"], **cfg.kwargs(), **ctx.options)
        except (ValueError, NotImplementedError) as exc:
            msg = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"
            if cfg == base:
                _fail(f"the factory refused the basic configuration ({cfg.describe()}) with {msg}; every cell "
                      f"must support it")
            raise _Unsupported(f"the factory does not support {cfg.describe()} ({msg})") from None
    if not isinstance(cell, torch.nn.Module):
        _fail(f"the factory must return a torch.nn.Module, got {type(cell).__name__}")
    if dtype is not None:
        cell = cell.to(dtype)
    return cell


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


def _expected_shapes(ctx: _Ctx, cfg: CellConfig, T: int, B: int) -> tuple[tuple, tuple]:
    """The shapes torch.nn.GRU gives for the same arguments (a reference, not the cell under test)."""
    I, H = ctx.extra["input_size"], ctx.extra["hidden_size"]
    ref = torch.nn.GRU(I, H, num_layers=cfg.num_layers, bidirectional=cfg.bidirectional)
    with torch.no_grad():
        out, h = ref(torch.zeros(T, B, I))
    return tuple(out.shape), tuple(h.shape)


def _check_state_shapes(h, expected: tuple, where: str) -> list:
    states = _states(h)
    _expect(tuple(states[0].shape) == expected, f"{where}: h_n shape (num_layers * directions, batch, hidden)",
            expected, tuple(states[0].shape))
    for k, s in enumerate(states[1:], 1):
        _expect(tuple(s.shape[:2]) == expected[:2], f"{where}: h_n[{k}] (e.g. c_n) leading dims", expected[:2],
                tuple(s.shape[:2]))
    return states


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


# -- the cell checks ------------------------------------------------------------------
def _cell_is_module(ctx: _Ctx) -> None:
    cell = _make_cell(ctx, ctx.extra["configs"][0])
    params = list(cell.parameters())
    _expect(len(params) > 0, "the cell's parameters (nn.Parameter, so optimisers and state_dict see them)",
            "at least one", "none")
    _expect(callable(getattr(cell, "forward", None)), "a forward method", "forward(x, h0=None)", "none")


def _cell_shapes_padded(ctx: _Ctx, cfg: CellConfig) -> None:
    cell = _make_cell(ctx, cfg)
    seqs = _seqs(ctx, [5, 5, 5])
    x = _padded(seqs)
    out, h = _call(cell, x)
    exp_out, exp_h = _expected_shapes(ctx, cfg, x.shape[0], x.shape[1])
    _expect(isinstance(out, torch.Tensor), "padded (T, B, I) input: output type", "a tensor", type(out).__name__)
    _expect(tuple(out.shape) == exp_out, "padded input: output shape (T, B, directions * hidden)", exp_out,
            tuple(out.shape))
    _expect(out.dtype == x.dtype, "padded input: output dtype", x.dtype, out.dtype)
    _check_state_shapes(h, exp_h, "padded input")


def _cell_shapes_packed(ctx: _Ctx, cfg: CellConfig) -> None:
    from torch.nn.utils.rnn import PackedSequence

    cell = _make_cell(ctx, cfg)
    seqs = _seqs(ctx, _LENGTHS)
    x = _packed(seqs)
    out, h = _call(cell, x)
    _expect(isinstance(out, PackedSequence), "packed input: output type", "PackedSequence", type(out).__name__)
    exp_out, exp_h = _expected_shapes(ctx, cfg, max(_LENGTHS), len(_LENGTHS))
    _expect(tuple(out.data.shape) == (sum(_LENGTHS), exp_out[-1]),
            "packed input: output.data shape (total steps, directions * hidden)",
            (sum(_LENGTHS), exp_out[-1]), tuple(out.data.shape))
    _expect(out.batch_sizes.tolist() == x.batch_sizes.tolist(), "packed input: output.batch_sizes",
            x.batch_sizes.tolist(), out.batch_sizes.tolist())
    for attr in ("sorted_indices", "unsorted_indices"):
        a, b = getattr(x, attr), getattr(out, attr)
        _expect(b is not None and a.tolist() == b.tolist(), f"packed input: output.{attr} (the input's)",
                a.tolist(), None if b is None else b.tolist())
    _check_state_shapes(h, exp_h, "packed input")


def _cell_packed_matches_alone(ctx: _Ctx, cfg: CellConfig) -> None:
    cell = _make_cell(ctx, cfg).eval()
    seqs = _seqs(ctx, _LENGTHS)
    out, h = _call(cell, _packed(seqs))
    _compare_alone(ctx, cell, seqs, _unpack(out), h, what="packed input")


def _cell_output_matches_h_n(ctx: _Ctx, cfg: CellConfig) -> None:
    """The last layer's output at each sequence's last step (forward) and first step
    (backward) is its h_n, as torch.nn.GRU defines them."""
    cell = _make_cell(ctx, cfg).eval()
    seqs = _seqs(ctx, _LENGTHS)
    out, h = _call(cell, _packed(seqs))
    out = _unpack(out)
    hn = _states(h)[0]
    H, D, L = ctx.extra["hidden_size"], cfg.directions, cfg.num_layers
    if out.shape[-1] != D * H:
        _fail(f"output feature size: expected directions * hidden = {D * H}, got {out.shape[-1]}")
    for i, n in enumerate(_LENGTHS):
        fwd, last = out[n - 1, i, :H], hn[(L - 1) * D, i]
        if not _close(fwd, last, atol=_ATOL, rtol=_RTOL):
            _fail(f"sequence {i} (length {n}): the forward output at its last valid step must equal the last "
                  f"layer's h_n ({_maxdiff(fwd, last)}): expected {_fmt(last)}, got {_fmt(fwd)}")
        if D == 2:
            bwd, first = out[0, i, H:], hn[(L - 1) * D + 1, i]
            if not _close(bwd, first, atol=_ATOL, rtol=_RTOL):
                _fail(f"sequence {i} (length {n}): the backward output at step 0 must equal the last layer's "
                      f"backward h_n ({_maxdiff(bwd, first)}): expected {_fmt(first)}, got {_fmt(bwd)}")


def _cell_padded_matches_packed(ctx: _Ctx, cfg: CellConfig) -> None:
    """Equal lengths: padded and packed input give the same results. Unidirectional
    cells: with unequal lengths, valid padded steps do not depend on what follows."""
    cell = _make_cell(ctx, cfg).eval()
    seqs = _seqs(ctx, [4, 4, 4])
    out_p, h_p = _call(cell, _padded(seqs))
    out_k, h_k = _call(cell, _packed(seqs))
    out_k = _unpack(out_k)
    if not _close(out_p, out_k, atol=_ATOL, rtol=_RTOL):
        _fail(f"equal-length batch: padded output must equal packed output ({_maxdiff(out_p, out_k)})")
    for k, (a, b) in enumerate(zip(_states(h_p), _states(h_k))):
        if not _close(a, b, atol=_ATOL, rtol=_RTOL):
            _fail(f"equal-length batch: h_n{'' if k == 0 else f'[{k}]'} from padded input must equal h_n from packed "
                  f"input ({_maxdiff(a, b)})")
    if not cfg.bidirectional:
        seqs = _seqs(ctx, _LENGTHS)
        out_p, _ = _call(cell, _padded(seqs, junk=True))
        _compare_alone(ctx, cell, seqs, out_p, None, what="padded input with junk after the shorter sequences "
                                                          "(unidirectional)")


def _cell_initial_state(ctx: _Ctx, cfg: CellConfig) -> None:
    """``h0`` is in the caller's batch order, for packed and padded input; zeros == None."""
    cell = _make_cell(ctx, cfg).eval()
    seqs = _seqs(ctx, _LENGTHS)
    x = _packed(seqs)
    out0, h = _call(cell, x)
    h0 = _initial_state(ctx, h, len(seqs))
    out, h1 = _call(cell, x, h0)
    _compare_alone(ctx, cell, seqs, _unpack(out), h1, what="packed input with h0", h0=h0)
    zeros = _initial_state(ctx, h, len(seqs))
    zeros = zeros * 0 if not isinstance(zeros, tuple) else tuple(z * 0 for z in zeros)
    _, hz = _call(cell, x, zeros)
    for a, b in zip(_states(h), _states(hz)):
        if not _close(a, b, atol=_ATOL, rtol=_RTOL):
            _fail(f"h0 of zeros must give the same result as h0=None ({_maxdiff(a, b)})")
    same = all(_close(a, b, atol=_ATOL, rtol=_RTOL) for a, b in zip(_states(h), _states(h1)))
    if same:
        _fail("a random h0 gave the same h_n as h0=None: the cell ignores h0")
    eq = _seqs(ctx, [3, 3, 3])
    h0p = _initial_state(ctx, h, 3, seed=8)
    out, h2 = _call(cell, _padded(eq), h0p)
    _compare_alone(ctx, cell, eq, out, h2, what="padded input with h0", h0=h0p)


def _cell_batch_order(ctx: _Ctx, cfg: CellConfig) -> None:
    """Permuting the batch permutes output and h_n the same way (packed and padded)."""
    cell = _make_cell(ctx, cfg).eval()
    seqs = _seqs(ctx, _LENGTHS)
    perm = [3, 0, 4, 2, 1]
    out, h = _call(cell, _packed(seqs))
    out2, h2 = _call(cell, _packed([seqs[p] for p in perm]))
    out, out2 = _unpack(out), _unpack(out2)
    for k, (a, b) in enumerate(zip(_states(h), _states(h2))):
        if not _close(a[:, perm], b, atol=_ATOL, rtol=_RTOL):
            _fail(f"packed input: permuting the batch by {perm} must permute h_n{'' if k == 0 else f'[{k}]'} the same "
                  f"way ({_maxdiff(a[:, perm], b)})")
    if not _close(out[:, perm], out2, atol=_ATOL, rtol=_RTOL):
        _fail(f"packed input: permuting the batch by {perm} must permute the output the same way "
              f"({_maxdiff(out[:, perm], out2)})")
    eq = _seqs(ctx, [4, 4, 4, 4])
    perm = [2, 0, 3, 1]
    x = _padded(eq)
    out, h = _call(cell, x)
    out2, h2 = _call(cell, x[:, perm])
    if not _close(out[:, perm], out2, atol=_ATOL, rtol=_RTOL):
        _fail(f"padded input: permuting the batch by {perm} must permute the output the same way "
              f"({_maxdiff(out[:, perm], out2)})")
    for a, b in zip(_states(h), _states(h2)):
        if not _close(a[:, perm], b, atol=_ATOL, rtol=_RTOL):
            _fail(f"padded input: permuting the batch by {perm} must permute h_n the same way "
                  f"({_maxdiff(a[:, perm], b)})")


def _cell_batch_of_one(ctx: _Ctx, cfg: CellConfig) -> None:
    cell = _make_cell(ctx, cfg).eval()
    exp_out, exp_h = _expected_shapes(ctx, cfg, 4, 1)
    seqs = _seqs(ctx, [4])
    out, h = _call(cell, _packed(seqs))
    _check_state_shapes(h, exp_h, "a packed batch of one")
    _compare_alone(ctx, cell, seqs, _unpack(out), h, what="a packed batch of one")
    out, h = _call(cell, _padded(seqs))
    _expect(tuple(out.shape) == exp_out, "a padded batch of one: output shape", exp_out, tuple(out.shape))
    _check_state_shapes(h, exp_h, "a padded batch of one")


def _cell_length_one(ctx: _Ctx, cfg: CellConfig) -> None:
    cell = _make_cell(ctx, cfg).eval()
    exp_out, exp_h = _expected_shapes(ctx, cfg, 1, 3)
    seqs = _seqs(ctx, [1, 1, 1])
    out, h = _call(cell, _padded(seqs))
    _expect(tuple(out.shape) == exp_out, "sequences of length one (padded): output shape", exp_out, tuple(out.shape))
    _check_state_shapes(h, exp_h, "sequences of length one (padded)")
    out, h = _call(cell, _packed(seqs))
    _compare_alone(ctx, cell, seqs, _unpack(out), h, what="sequences of length one (packed)")
    seqs = _seqs(ctx, [1, 5, 1])
    out, h = _call(cell, _packed(seqs))
    _compare_alone(ctx, cell, seqs, _unpack(out), h, what="length-one sequences beside longer ones (packed)")


def _cell_gradients(ctx: _Ctx, cfg: CellConfig) -> None:
    cell = _make_cell(ctx, cfg)
    seqs = [s.requires_grad_(True) for s in _seqs(ctx, _LENGTHS)]
    out, h = _call(cell, _packed(seqs))
    g = torch.Generator().manual_seed(5)
    loss = (out.data * torch.randn(out.data.shape, generator=g)).sum()
    for s in _states(h):
        loss = loss + (s * torch.randn(s.shape, generator=g)).sum()
    loss.backward()
    problems = []
    for name, p in cell.named_parameters():
        if not p.requires_grad:
            continue
        if p.grad is None:
            problems.append(f"{name}: no gradient (not used in forward, or detached)")
        elif not bool(torch.isfinite(p.grad).all()):
            problems.append(f"{name}: non-finite gradient")
        elif float(p.grad.abs().sum()) == 0.0:
            problems.append(f"{name}: gradient is all zeros")
    if problems:
        _fail("gradients must reach every parameter: expected a finite non-zero gradient for each, got "
              + "; ".join(problems))
    for i, s in enumerate(seqs):
        if s.grad is None or float(s.grad.abs().sum()) == 0.0:
            _fail(f"gradients must reach the input: expected a non-zero gradient for sequence {i}, got "
                  f"{'none' if s.grad is None else 'zeros'}")


def _cell_state_dict(ctx: _Ctx, cfg: CellConfig) -> None:
    """state_dict -> torch.save/torch.load(weights_only=True) -> a fresh instance: same outputs."""
    a = _make_cell(ctx, cfg, seed=ctx.seed + 1).eval()
    b = _make_cell(ctx, cfg, seed=ctx.seed + 2).eval()
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    try:
        b.load_state_dict(state)
    except Exception as exc:
        _fail(f"load_state_dict(state_dict()) into a fresh instance: expected it to load, got "
              f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")
    seqs = _seqs(ctx, _LENGTHS)
    for kind, x in (("packed", _packed(seqs)), ("padded", _padded(_seqs(ctx, [4, 4])))):
        oa, ha = _call(a, x)
        ob, hb = _call(b, x)
        oa = oa.data if kind == "packed" else oa
        ob = ob.data if kind == "packed" else ob
        pairs = [(oa, ob)] + list(zip(_states(ha), _states(hb)))
        for ta, tb in pairs:
            if ta.shape != tb.shape or not bool((ta == tb).all()):
                _fail(f"a fresh instance loaded with state_dict() must give identical outputs ({kind} input): "
                      f"{_maxdiff(ta, tb)}; keep every weight in parameters or buffers")


def _cell_to_float64(ctx: _Ctx, cfg: CellConfig) -> None:
    cell = _make_cell(ctx, cfg).eval()
    seqs = _seqs(ctx, _LENGTHS)
    out32, h32 = _call(cell, _packed(seqs))
    cell64 = cell.to(torch.float64)
    if cell64 is None:
        cell64 = cell
    bad = [n for n, p in cell64.named_parameters() if p.is_floating_point() and p.dtype != torch.float64]
    _expect(not bad, ".to(torch.float64): parameter dtypes", "float64", f"other dtypes for {', '.join(bad)}")
    try:
        out64, h64 = _call(cell64, _packed([s.double() for s in seqs]))
    except NotImplementedError as exc:
        raise _Unsupported(f"float64 forward is not implemented ({exc})") from None
    _expect(out64.data.dtype == torch.float64, ".to(torch.float64): output dtype", torch.float64, out64.data.dtype)
    for s in _states(h64):
        _expect(s.dtype == torch.float64, ".to(torch.float64): h_n dtype", torch.float64, s.dtype)
    if not _close(out32.data, out64.data, atol=1e-4, rtol=1e-3):
        _fail(f".to(torch.float64): float64 outputs must match float32 ones ({_maxdiff(out32.data, out64.data)})")
    for a, b in zip(_states(h32), _states(h64)):
        if not _close(a, b, atol=1e-4, rtol=1e-3):
            _fail(f".to(torch.float64): float64 h_n must match float32 ({_maxdiff(a, b)})")


def _cell_to_cuda(ctx: _Ctx, cfg: CellConfig) -> None:
    if not torch.cuda.is_available():
        raise _Unsupported("needs CUDA")
    cell = _make_cell(ctx, cfg).eval()
    seqs = _seqs(ctx, _LENGTHS)
    out_c, h_c = _call(cell, _packed(seqs))
    cell = cell.to("cuda") or cell
    try:
        out_g, h_g = _call(cell, _packed(seqs).to("cuda"))
    except NotImplementedError as exc:
        raise _Unsupported(f"CUDA forward is not implemented ({exc})") from None
    _expect(out_g.data.is_cuda, '.to("cuda"): output device', "cuda", out_g.data.device)
    for s in _states(h_g):
        _expect(s.is_cuda, '.to("cuda"): h_n device', "cuda", s.device)
    if not _close(out_c.data, out_g.data, atol=1e-3, rtol=1e-2):
        _fail(f'.to("cuda"): CUDA outputs must match CPU ones ({_maxdiff(out_c.data, out_g.data)})')
    for a, b in zip(_states(h_c), _states(h_g)):
        if not _close(a, b, atol=1e-3, rtol=1e-2):
            _fail(f'.to("cuda"): CUDA h_n must match the CPU h_n ({_maxdiff(a, b)})')
    x = _padded(_seqs(ctx, [3, 3])).to("cuda")
    out, h = _call(cell, x)
    _expect(out.is_cuda, '.to("cuda"), padded input: output device', "cuda", out.device)


def _cell_seeded(ctx: _Ctx, cfg: CellConfig) -> None:
    """The same seed gives the same initial parameters and outputs."""
    a = _make_cell(ctx, cfg, seed=ctx.seed + 11).eval()
    b = _make_cell(ctx, cfg, seed=ctx.seed + 11).eval()
    sa, sb = a.state_dict(), b.state_dict()
    _expect(list(sa) == list(sb), "two instances made under the same seed: state_dict keys", list(sa), list(sb))
    differ = [k for k in sa if hasattr(sa[k], "shape")
              and (sa[k].shape != sb[k].shape or not bool((sa[k] == sb[k]).all()))]
    if differ:
        _fail(f"two instances made under the same torch seed must start with identical parameters, got different "
              f"{', '.join(differ)}; draw initial values from torch's global RNG (not numpy/random/time)")
    seqs = _seqs(ctx, _LENGTHS)
    oa, ha = _call(a, _packed(seqs))
    ob, hb = _call(b, _packed(seqs))
    oc, hc = _call(a, _packed(seqs))
    for x, y, what in ((oa.data, ob.data, "two seeded instances"), (oa.data, oc.data, "two calls of one instance")):
        if x.shape != y.shape or not bool((x == y).all()):
            _fail(f"{what} must give identical outputs in eval mode ({_maxdiff(x, y)})")
    for x, y in zip(_states(ha), _states(hb)):
        if x.shape != y.shape or not bool((x == y).all()):
            _fail(f"two seeded instances must give identical h_n ({_maxdiff(x, y)})")


def _cell_dropout(ctx: _Ctx) -> None:
    """dropout acts between layers in training only: eval mode equals a dropout-free cell."""
    cfg = _DROPOUT_CONFIG
    cell = _make_cell(ctx, cfg)
    plain = _make_cell(ctx, CellConfig("2layers", num_layers=2), seed=ctx.seed + 3)
    try:
        plain.load_state_dict(cell.state_dict())
    except Exception as exc:
        _fail(f"the state_dict of a cell with dropout=0.5 must load into one with dropout=0.0, got "
              f"{type(exc).__name__}: {exc}")
    seqs = _seqs(ctx, _LENGTHS)
    cell.eval(), plain.eval()
    oa, ha = _call(cell, _packed(seqs))
    ob, hb = _call(plain, _packed(seqs))
    if not _close(oa.data, ob.data, atol=_ATOL, rtol=_RTOL):
        _fail(f"in eval mode a cell with dropout=0.5 must equal the same cell with dropout=0.0 "
              f"({_maxdiff(oa.data, ob.data)})")
    cell.train()
    ot, _ = _call(cell, _packed(seqs))
    if _close(ot.data, oa.data, atol=_ATOL, rtol=_RTOL):
        _fail("in train mode dropout=0.5 between two layers must change the output; expected it to differ from "
              "eval mode, got identical outputs (dropout is ignored)")


def _cell_index_input(ctx: _Ctx) -> None:
    """Cells that set ``accepts_indices``: int64 indices equal one-hot float rows."""
    import torch.nn.functional as F
    from torch.nn.utils.rnn import PackedSequence

    cell = _make_cell(ctx, ctx.extra["configs"][0]).eval()
    if not getattr(cell, "accepts_indices", False):
        raise _Unsupported("the cell does not set accepts_indices = True")
    n = ctx.extra["input_size"]
    g = torch.Generator().manual_seed(3)
    idx = [torch.randint(0, n, (k,), generator=g) for k in _LENGTHS]
    packed = _packed(idx)
    rows = PackedSequence(F.one_hot(packed.data, n).float(), packed.batch_sizes, packed.sorted_indices,
                          packed.unsorted_indices)
    oi, hi = _call(cell, packed)
    orow, hrow = _call(cell, rows)
    if not _close(oi.data, orow.data, atol=_ATOL, rtol=_RTOL):
        _fail(f"accepts_indices: int64 index input must equal one-hot rows ({_maxdiff(oi.data, orow.data)})")
    for a, b in zip(_states(hi), _states(hrow)):
        if not _close(a, b, atol=_ATOL, rtol=_RTOL):
            _fail(f"accepts_indices: h_n from index input must equal h_n from one-hot rows ({_maxdiff(a, b)})")


_CELL_PER_CONFIG = (
    ("shapes_padded", _cell_shapes_padded),
    ("shapes_packed", _cell_shapes_packed),
    ("packed_matches_alone", _cell_packed_matches_alone),
    ("output_matches_h_n", _cell_output_matches_h_n),
    ("padded_matches_packed", _cell_padded_matches_packed),
    ("initial_state", _cell_initial_state),
    ("batch_order", _cell_batch_order),
    ("batch_of_one", _cell_batch_of_one),
    ("length_one", _cell_length_one),
    ("gradients", _cell_gradients),
    ("state_dict_roundtrip", _cell_state_dict),
    ("to_float64", _cell_to_float64),
    ("to_cuda", _cell_to_cuda),
    ("seeded_determinism", _cell_seeded),
)


def _bind(func, *args):
    return lambda ctx: func(ctx, *args)


def cell_checks(factory: Callable | str, *, input_size: int = 5, hidden_size: int = 4,
                configs: Sequence[CellConfig] = CELL_CONFIGS, options: dict | None = None,
                seed: int = 0) -> list[tuple[str, Check]]:
    """Every cell check as ``(name, check)`` pairs; per-configuration checks are named
    ``check[config]`` (e.g. ``packed_matches_alone[bi]``).

    ``factory(input_size, hidden_size, num_layers=, dropout=, bidirectional=, **options)``
    or a registered cell name. ``configs``: the option combinations to check (the first
    must be supported; a configuration the factory refuses with ``ValueError`` or
    ``NotImplementedError`` makes its checks skip).
    """
    fn, target = _resolve("cell", factory)
    configs = tuple(configs)
    if not configs:
        raise ValueError("configs must hold at least one CellConfig")
    ctx = _Ctx("cell", fn, target, seed, dict(options or {}),
               {"input_size": int(input_size), "hidden_size": int(hidden_size), "configs": configs})
    out = [("is_module", Check("cell", "is_module", _cell_is_module, ctx))]
    for cfg in configs:
        for name, func in _CELL_PER_CONFIG:
            full = f"{name}[{cfg.name}]"
            out.append((full, Check("cell", full, _bind(func, cfg), ctx)))
    out.append(("dropout_between_layers", Check("cell", "dropout_between_layers", _cell_dropout, ctx)))
    out.append(("index_input", Check("cell", "index_input", _cell_index_input, ctx)))
    return out


# ======================================================================================
# collators
# ======================================================================================
_COLLATE_ITEMS = (
    ("Nakamura", "c"), ("Ó Briain", "a"), ("李", "b"), ("Дмитриевич", "c"), ("Zoë", "a"),
    ("x", "b"), ("Müller-Lüdenscheidt", "a"), ("Abe", "c"),
)
_COLLATE_LABELS = ("a", "b", "c")


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


def collator_checks(factory: Callable | str, *, encoder=None, items: Sequence[tuple[str, str]] | None = None,
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


# ======================================================================================
# encoders
# ======================================================================================
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


# ======================================================================================
# datasets
# ======================================================================================
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


# ======================================================================================
# entry points
# ======================================================================================
_BUILDERS = {"cell": cell_checks, "collator": collator_checks, "encoder": encoder_checks, "dataset": dataset_checks}


def checks(kind: str, factory: Callable | str, **kw: Any) -> list[tuple[str, Check]]:
    """``(name, check)`` pairs for any kind (``cell``, ``collator``, ``encoder``, ``dataset``)."""
    if kind not in _BUILDERS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return _BUILDERS[kind](factory, **kw)


def check_names(kind: str, **kw: Any) -> list[str]:
    """The names of the checks of ``kind`` (with ``configs=`` for cells)."""
    return [name for name, _ in checks(kind, lambda *a, **k: None, **kw)]


def run_check(kind: str, factory: Callable | str, name: str, **kw: Any) -> None:
    """Run one named check (raises :class:`ConformanceError`, skips like a check callable)."""
    found = dict(checks(kind, factory, **kw))
    if name not in found:
        raise KeyError(f"no {kind} check named {name!r}; known: {', '.join(found)}")
    found[name]()


def check_component(kind: str, factory: Callable | str, *, raise_on_failure: bool = True, **kw: Any) -> Report:
    """Run every check of ``kind``; return the :class:`Report`, raising
    :class:`ConformanceError` (naming every failed check) when one failed."""
    pairs = checks(kind, factory, **kw)
    target = pairs[0][1].target if pairs else str(factory)
    report = Report(kind, target, [check.outcome() for _, check in pairs])
    if report.failed and raise_on_failure:
        first = report.failed[0]
        lines = [r.reason for r in report.failed]
        msg = lines[0] if len(lines) == 1 else (f"{len(lines)} {kind} checks failed for {target}:\n  "
                                                + "\n  ".join(lines))
        raise ConformanceError(msg, check=first.name, kind=kind,
                               failures=[(r.name, r.reason) for r in report.failed], report=report)
    return report


def check_cell(factory: Callable | str, **kw: Any) -> Report:
    """Run every cell check (see :func:`cell_checks` for the keywords)."""
    return check_component("cell", factory, **kw)


def check_collator(factory: Callable | str, **kw: Any) -> Report:
    """Run every collator check (see :func:`collator_checks` for the keywords)."""
    return check_component("collator", factory, **kw)


def check_encoder(factory: Callable | str, **kw: Any) -> Report:
    """Run every encoder check (see :func:`encoder_checks` for the keywords)."""
    return check_component("encoder", factory, **kw)


def check_dataset(factory: Callable | str, **kw: Any) -> Report:
    """Run every dataset check (see :func:`dataset_checks`; pass the data as ``path=``)."""
    return check_component("dataset", factory, **kw)


def parametrize_checks(kind: str, factories: Callable | str | Sequence[Callable | str], *, argname: str = "check",
                       **kw: Any):
    """A ``pytest.mark.parametrize`` over every check of ``kind``, one test case each.

    ``factories``: one factory or registered name (ids are the check names, e.g.
    ``packed_matches_alone[bi]``) or a list of them (ids ``<name>-<check>``). The test
    receives the check as ``argname`` and calls it::

        @parametrize_checks("cell", ["gru", "lstm"])
        def test_cells(check):
            check()
    """
    import pytest

    many = isinstance(factories, (list, tuple))
    params = []
    for factory in (factories if many else [factories]):
        for name, check in checks(kind, factory, **kw):
            params.append(pytest.param(check, id=f"{_target_id(factory)}-{name}" if many else name))
    return pytest.mark.parametrize(argname, params)
