"""The plumbing of the conformance kit: errors, results, :class:`Check`, and the entry
points common to every kind (:func:`checks`, :func:`check_names`, :func:`run_check`,
:func:`check_component`, :func:`parametrize_checks`).

Each kind's checks live in their own module (:mod:`.cells`, :mod:`.collators`,
:mod:`.encoders`, :mod:`.datasets`, :mod:`.tasks`), which imports this one; the entry
points here reach them through :data:`_KIND_MODULES`, importing the module when a kind is
first asked for (so there is no import cycle). See :mod:`seqkit.testing` for the
overview.
"""
from __future__ import annotations

import importlib
import sys
import unittest
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from ..errors import SeqkitError

__all__ = ["KINDS", "ConformanceError", "CheckSkipped", "CheckResult", "Report", "Check", "checks", "check_names",
           "run_check", "check_component", "parametrize_checks"]

#: The component kinds the kit checks (each has a module of checks: see _KIND_MODULES).
KINDS = ("cell", "collator", "encoder", "dataset", "task")


# -- errors, results ------------------------------------------------------------------
class ConformanceError(SeqkitError, AssertionError):
    """A component breaks its plugin contract.

    ``check``: the (first) failed check's name; ``kind``: cell, collator, encoder,
    dataset or task; ``failures``: every failed ``(check, message)``; ``report``: the full
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
#: kind -> the module of seqkit.testing holding its checks (``<module>.<kind>_checks``)
_KIND_MODULES = {"cell": "cells", "collator": "collators", "encoder": "encoders", "dataset": "datasets",
                 "task": "tasks"}


def _resolve(kind: str, factory: Any) -> tuple[Callable, str]:
    """A callable factory and a description of it; a string is a registered name."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if isinstance(factory, str):
        name = factory

        def make(*args, **kwargs):
            from ..plugin import registry

            return registry.by_kind(kind).create(name, *args, **kwargs)

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


def _capabilities(kind: str, factory: Any, capabilities: Any) -> Callable[[], frozenset]:
    """What ``factory`` declares it can do (:data:`seqkit.plugin.registry.CAPABILITIES`),
    as a function the checks call when they run.

    A registered name's capabilities are those of its registration
    (``registry.<kind>s.entry(name).capabilities``), looked up when a check runs so that
    building the checks loads no plugin. A plain callable has only what the caller
    states with ``capabilities=`` (a name or an iterable of names; default none): the
    kit never reads them from the component.
    """
    from ..plugin.registry import CAPABILITIES

    if isinstance(factory, str):
        if capabilities is not None:
            raise ValueError(f"capabilities= is for a plain {kind} factory: the capabilities of the registered "
                             f"{kind} {factory!r} are those its plugin declared with register(..., "
                             f"capabilities=...); drop capabilities=")
        name = factory

        def registered() -> frozenset:
            from ..plugin import registry

            return frozenset(registry.by_kind(kind).entry(name).capabilities)

        return registered
    caps = frozenset([capabilities] if isinstance(capabilities, str) else capabilities or ())
    known = CAPABILITIES.get(kind, {})
    unknown = sorted(caps - set(known))
    if unknown:
        raise ValueError(f"unknown {kind} capabilities {', '.join(map(repr, unknown))}; a {kind} can declare: "
                         f"{', '.join(map(repr, sorted(known))) or 'none'}")
    return lambda: caps


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


# -- entry points ---------------------------------------------------------------------
def _builder(kind: str) -> Callable[..., list[tuple[str, Check]]]:
    """The ``<kind>_checks`` function of ``kind``, from its module (imported on first use)."""
    if kind not in _KIND_MODULES:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return getattr(importlib.import_module(f"{__package__}.{_KIND_MODULES[kind]}"), f"{kind}_checks")


def checks(kind: str, factory: Callable | str, **kw: Any) -> list[tuple[str, Check]]:
    """``(name, check)`` pairs for any kind (``cell``, ``collator``, ``encoder``, ``dataset``,
    ``task``); ``kw`` are the keywords of that kind's ``<kind>_checks``."""
    return _builder(kind)(factory, **kw)


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


def parametrize_checks(kind: str, factories: Callable | str | Sequence[Callable | str], *, argname: str = "check",
                       **kw: Any) -> Any:
    """A ``pytest.mark.parametrize`` over every check of ``kind``, one test case each.

    ``factories``: one factory or registered name (ids are the check names, e.g.
    ``packed_matches_alone[bi]``) or a list of them (ids ``<name>-<check>``); ``kw``: the
    keywords of the kind's ``<kind>_checks`` (``configs=`` or ``capabilities=`` for a cell
    callable, ``dataset=`` for a task, ...). The test receives the check as ``argname``
    and calls it::

        @parametrize_checks("cell", ["gru", "lstm"])
        def test_cells(check):
            check()

        @parametrize_checks("task", ["classify", "seq2seq"])
        def test_tasks(check):
            check()
    """
    import pytest

    many = isinstance(factories, (list, tuple))
    params = []
    for factory in (factories if many else [factories]):
        for name, check in checks(kind, factory, **kw):
            params.append(pytest.param(check, id=f"{_target_id(factory)}-{name}" if many else name))
    return pytest.mark.parametrize(argname, params)

