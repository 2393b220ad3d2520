"""Package attributes that import their module on first use (PEP 562).

seqkit's packages expose their public names at the package level without importing
every module (and torch) when the package is imported::

    __getattr__, __dir__ = lazy.exports(__name__, {"RunConfig": ".config", "train": ".trainer"})
"""
from __future__ import annotations

import importlib
import sys
from typing import Callable


def exports(package: str, where: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: name -> module (relative to the package
    when it starts with a dot); the value is cached in the package once imported."""
    def __getattr__(name: str):
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__
