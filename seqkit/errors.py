"""Typed errors raised by seqkit.

Every error carries a one-line message that says what is wrong, where, and how to fix
it. The CLI turns any :class:`SeqkitError` into that line on stderr and exit status 2;
Python callers can catch the specific type.
"""
from __future__ import annotations

__all__ = ["SeqkitError", "RegistryError", "UnknownNameError", "DuplicateNameError", "PluginError", "DataError",
           "ConfigError", "CheckpointError", "NumericalError", "ExportError"]


class SeqkitError(Exception):
    """Base class of every error seqkit raises on purpose."""


class RegistryError(SeqkitError, LookupError):
    """A registry lookup or registration failed."""


class UnknownNameError(RegistryError, KeyError):
    """A name is not registered. Has ``kind``, ``name``, ``available``, ``suggestion``."""

    def __init__(self, kind: str, name: str, available: list[str], suggestion: str | None):
        self.kind, self.name, self.available, self.suggestion = kind, name, available, suggestion
        hint = f"; did you mean '{suggestion}'?" if suggestion else ""
        names = ", ".join(available) if available else "(none registered)"
        super().__init__(f"unknown {kind} '{name}'{hint} available: {names}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]


class DuplicateNameError(RegistryError):
    """Two plugins registered the same name in one registry."""


class PluginError(SeqkitError):
    """A plugin failed to import, or raised in one of its hooks or factories."""


class DataError(SeqkitError, ValueError):
    """A data file or directory is missing, unreadable, empty or malformed."""


class ConfigError(SeqkitError, ValueError):
    """An option value or combination of options is invalid."""


class CheckpointError(SeqkitError):
    """A checkpoint is missing, unreadable or incompatible."""


class NumericalError(SeqkitError, FloatingPointError):
    """Training produced a non-finite loss or gradient."""


class ExportError(SeqkitError):
    """A trained run cannot be exported in the asked format (the task or the cell cannot)."""
