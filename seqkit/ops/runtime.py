"""Which implementation seqkit's ops run: the compiled extension, or the pure-PyTorch reference.

- ``"cpp"``: the kernels of ``csrc/`` (``seqkit._C``, CPU and, where it was built with
  them, CUDA): installed by ``pip install``, or built once from a source checkout into
  ``$SEQKIT_CACHE`` (:mod:`seqkit.ops.extension`);
- ``"reference"``: pure PyTorch, used when the extension cannot be loaded (one warning)
  or when ``SEQKIT_BACKEND=reference`` asks for it (``SEQKIT_BACKEND=cpp`` makes a
  missing extension an error instead).

The first call that needs the extension loads it and registers the ops' fake kernels and
autograd formulas (each op's module does its own: :func:`seqkit.ops.encode_pack.register_python_side`,
:func:`seqkit.ops.gru.register_python_side`, :func:`seqkit.ops.dropout.register_python_side`).
"""
from __future__ import annotations

import os
import warnings

import torch

_ext = None
_ext_tried = False
_ext_reason = ""


def _load_extension(warn: bool = True):
    """Load (or build) seqkit._C once; warn once if it is unavailable (unless the first
    caller says it reports that itself: ``warn=False``)."""
    global _ext, _ext_tried, _ext_reason
    if not _ext_tried:
        _ext_tried = True
        from . import extension

        _ext, _ext_reason = extension.load()
        if _ext is None and warn:
            warnings.warn(
                f"seqkit: compiled ops unavailable ({_ext_reason}); using the pure-PyTorch "
                "reference implementation (slower). Install a C++ compiler and reinstall, or set "
                "SEQKIT_BACKEND=reference to silence this.",
                RuntimeWarning,
                stacklevel=3,
            )
        elif _ext is not None:
            import importlib

            for op in ("encode_pack", "gru", "dropout"):  # (the package's encode_pack is the function)
                importlib.import_module(f"{__package__}.{op}").register_python_side()
    return _ext


def backend(*, warn: bool = True) -> str:
    """Which implementation the ops use now: ``"cpp"`` or ``"reference"``.

    Reads ``SEQKIT_BACKEND`` (``auto`` (default), ``cpp``, ``reference``) on every call, so
    tests can switch with ``monkeypatch.setenv``. The first call that needs the extension
    loads it (building it once from ``csrc/`` in a source checkout) and warns once if it
    cannot; ``warn=False`` leaves that warning to the caller (``--cell auto``, which says
    what the run uses instead: :mod:`seqkit.engine.auto`).
    """
    forced = _forced()
    if forced == "reference":
        return "reference"
    if forced not in ("auto", "cpp"):
        raise ValueError(f"SEQKIT_BACKEND={forced!r} is not one of 'auto', 'cpp', 'reference'")
    ext = _load_extension(warn)
    if ext is None:
        if forced == "cpp":
            raise RuntimeError(f"SEQKIT_BACKEND=cpp but the compiled ops are unavailable: {_ext_reason}")
        return "reference"
    return "cpp"


def _forced() -> str:
    return os.environ.get("SEQKIT_BACKEND", "auto").strip().lower() or "auto"


def backend_reason() -> str:
    """One line on where the compiled ops came from, or why they are unavailable."""
    b = backend()
    if b == "reference" and (_forced() == "reference" or not _ext_tried):
        return "SEQKIT_BACKEND=reference"
    return _ext_reason


def compiled():
    """The loaded ``seqkit._C`` module (None when the reference runs)."""
    return _ext if backend() == "cpp" else None


def has_cuda_kernels() -> bool:
    """Whether seqkit._C was built with the CUDA kernels (setup.py's CUDAExtension path)."""
    try:
        return bool(torch._C._dispatch_has_kernel_for_dispatch_key("seqkit::gru_forward", "CUDA"))
    except (RuntimeError, AttributeError):
        return False
