"""The plugin system: hook specifications, plugin discovery, and the registries.

- :mod:`seqkit.plugin.hookspecs`: every hook a plugin may implement (the contract).
- :mod:`seqkit.plugin.manager`: finds plugins through the ``seqkit`` entry-point group,
  imports each once, isolates and records failures.
- :mod:`seqkit.plugin.registry`: the registries of datasets, encoders, collators, cells
  and tasks (``from seqkit import registry``).
"""
from __future__ import annotations

from . import registry
from .hookspecs import hookimpl, hookspec

__all__ = ["hookimpl", "hookspec", "registry"]
