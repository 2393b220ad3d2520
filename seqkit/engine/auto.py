"""``--cell auto`` and ``--collator auto`` (the defaults): the compiled path wherever it runs.

:func:`resolve_auto` turns ``auto`` into a registered name once, before the run directory
is prepared, so that the saved config, metrics.json, checkpoints and ``--resume`` carry
the concrete names:

- the cell: ``fused-gru`` where seqkit's compiled ops load (:func:`seqkit.ops.backend` is
  ``"cpp"``) and the run is on the CPU, else ``gru`` (``torch.nn.GRU``). On CUDA it stays
  ``gru`` (cuDNN): the fused GRU's CUDA kernels have not been run on a GPU yet
  (docs/cuda.md); ``--cell fused-gru`` asks for them;
- the collator: ``fused-pack`` where the compiled ops load and the encoder is one
  ``fused-pack`` encodes exactly (a :class:`seqkit.data.Encoder` that maps each character
  to one symbol), else ``pack``. Both give the same ``PackedSequence`` of symbol indices,
  so any cell takes either.

Where the compiled ops do not load (no extension, or ``SEQKIT_BACKEND=reference``), or the
plugin that registers ``fused-gru`` and ``fused-pack`` did not, one warning says what the
run uses instead and how to get the compiled path; it replaces the ops' own warning.
:func:`describe` says which implementation runs a run's cell and collator (the ``model:``
log line and metrics.json's ``path``).
"""
from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Any, Callable

from ..errors import ConfigError
from .config import AUTO, RunConfig

#: what auto picks where the compiled ops serve the run, and where they do not
COMPILED = {"cell": "fused-gru", "collator": "fused-pack"}
TORCH = {"cell": "gru", "collator": "pack"}
#: the plugins whose components run seqkit's compiled ops, and torch's own modules
_COMPILED_PLUGIN = "seqkit.fused"
_TORCH_PLUGINS = ("seqkit.cells", "seqkit.collators")
_TORCH_WORDS = {"cell": "torch's nn.GRU", "collator": "pack"}


def resolve_auto(config: RunConfig, *, warn: Callable[[str], None] | None = None) -> RunConfig:
    """``config`` with ``cell`` / ``collator`` ``auto`` replaced by a registered name (see the
    module docstring); unchanged when neither is ``auto``.

    Where the compiled ops do not load (or the plugin registering ``fused-gru`` /
    ``fused-pack`` did not), ``warn(message)`` is called once (on rank 0 of a distributed
    run) with one line saying what the run uses and how to get the compiled path; the
    default is a ``RuntimeWarning``. ``SEQKIT_BACKEND`` values that cannot be
    served (``cpp`` without the extension, an unknown value) are a :class:`ConfigError`.
    """
    wanted = [kind for kind in ("cell", "collator") if getattr(config, kind) == AUTO]
    if not wanted:
        return config
    compiled = _backend() == "cpp"
    suits = {"cell": lambda: not _on_cuda(config.device), "collator": lambda: _encodes_per_character(config)}
    choice, fallen = {}, []
    for kind in wanted:
        available = compiled and _plugin(kind, COMPILED[kind]) is not None
        choice[kind] = COMPILED[kind] if available and suits[kind]() else TORCH[kind]
        if not available:
            fallen.append(kind)
    if fallen and _main_process():
        (warn or _warn)(_fallback_message(config, fallen, compiled))
    return replace(config, **choice)


def describe(config: RunConfig, device: Any) -> dict[str, str]:
    """The path a run takes, for metrics.json: ``{"cell", "cell_runs", "collator",
    "collator_runs", "backend"}`` with ``*_runs`` one of ``compiled cpu kernels``,
    ``compiled cuda kernels``, ``pure-PyTorch reference``, ``torch`` or ``plugin NAME``."""
    backend = ops_backend()
    return {"cell": config.cell, "cell_runs": _runs("cell", config.cell, backend, device),
            "collator": config.collator, "collator_runs": _runs("collator", config.collator, backend, device),
            "backend": backend}


def ops_backend() -> str:
    """:func:`seqkit.ops.backend`, or ``unavailable (why)`` (reporting never fails)."""
    from .. import ops

    try:
        return ops.backend()
    except (RuntimeError, ValueError) as exc:
        return f"unavailable ({exc})"


def _backend() -> str:
    """The ops backend, loading the extension without its own warning (ours replaces it)."""
    from ..ops import runtime

    try:
        return runtime.backend(warn=False)
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(f"--cell/--collator auto: {exc}; unset SEQKIT_BACKEND, or pass --cell gru --collator "
                          f"pack") from None


def _on_cuda(device: str) -> bool:
    if device == "auto":
        import torch

        return torch.cuda.is_available()
    return device.startswith("cuda")


def _encodes_per_character(config: RunConfig) -> bool:
    """Whether the run's encoder encodes text as fused-pack does: seqkit's Encoder (or a
    subclass keeping its encode and normalize), one symbol per normalised character."""
    from ..data.encoding import Encoder
    from .components import make_encoder

    encoder = make_encoder(config)
    return (isinstance(encoder, Encoder) and type(encoder).encode is Encoder.encode
            and type(encoder).normalize is Encoder.normalize)


def _main_process() -> bool:
    from .distributed import world_from_env

    return world_from_env().main


def _fallback_message(config: RunConfig, fallen: list[str], compiled: bool) -> str:
    """One line: why the compiled path is off, what this run uses instead, how to get it."""
    from ..ops import runtime

    names = [COMPILED[kind] for kind in fallen]
    uses = " and ".join(_TORCH_WORDS[kind] for kind in fallen)
    flags = " ".join(f"--{kind} {TORCH[kind]}" for kind in fallen)
    if compiled:  # the ops load, but the plugin that registers the compiled components did not
        return (f"{' and '.join(names)} not registered (plugin {_COMPILED_PLUGIN} did not load; `seqkit plugins` "
                f"says why): this run uses {uses} ({flags}), the same model, slower")
    reason = runtime.backend_reason()
    explicit = [getattr(config, kind) for kind in ("cell", "collator") if kind not in fallen
                and _plugin(kind, getattr(config, kind)) == _COMPILED_PLUGIN]
    also = (f"; {' and '.join(explicit)} {'runs its' if len(explicit) == 1 else 'run their'} pure-PyTorch "
            f"reference") if explicit else ""
    fix = ("unset SEQKIT_BACKEND" if reason == "SEQKIT_BACKEND=reference"
           else "install a C++ compiler and ninja, then reinstall seqkit (pip install --no-build-isolation -e .)")
    return (f"compiled ops unavailable ({reason}): this run uses {uses} ({flags}), the same model, slower{also}; "
            f"for the compiled path ({', '.join(names)}) {fix}")


def _warn(message: str) -> None:
    """A RuntimeWarning pointing at the first caller outside seqkit.engine (train(), your code)."""
    import sys

    frame, level = sys._getframe(1), 2
    while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith("seqkit.engine."):
        frame, level = frame.f_back, level + 1
    warnings.warn(f"seqkit: {message}", RuntimeWarning, stacklevel=level)


def _plugin(kind: str, name: str) -> str | None:
    from ..plugin import registry

    try:
        return registry.by_kind(kind).plugin(name)
    except Exception:  # a name not registered (any more): nothing to say about it
        return None


def _runs(kind: str, name: str, backend: str, device: Any) -> str:
    plugin = _plugin(kind, name)
    if plugin == _COMPILED_PLUGIN:
        if backend != "cpp":
            return "pure-PyTorch reference"
        if kind == "cell" and str(getattr(device, "type", device)).startswith("cuda"):
            from ..ops import runtime

            return "compiled cuda kernels" if runtime.has_cuda_kernels() else \
                "pure-PyTorch reference (this build has no CUDA kernels)"
        return "compiled cpu kernels"
    if plugin in _TORCH_PLUGINS:
        return "torch"
    return f"plugin {plugin}" if plugin else "unknown"
