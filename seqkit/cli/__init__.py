"""The ``seqkit`` command line (click), generated from seqkit's declarations.

- :mod:`~seqkit.cli.app`: the group, :func:`build_cli`, :func:`main` (the console script).
- :mod:`~seqkit.cli.params`: click parameters from option declarations and registries.
- :mod:`~seqkit.cli.run`: ``seqkit run``; :mod:`~seqkit.cli.inference`: ``predict``, ``eval``;
  :mod:`~seqkit.cli.export`: ``export``; :mod:`~seqkit.cli.plugins`: ``plugins``;
  :mod:`~seqkit.cli.bench`: ``bench``.
- :mod:`~seqkit.cli.docs`: docs/cli.md, generated from the app (``python -m seqkit.cli.docs``).
"""
from __future__ import annotations

from .app import build_cli, main
from .params import EXIT_BAD_INPUT, CLIError

__all__ = ["CLIError", "EXIT_BAD_INPUT", "build_cli", "main"]
