"""seqkit: batched sequence models in PyTorch.

- ``seqkit.registry``: datasets, encoders, collators, cells and tasks, filled by plugins.
- ``seqkit.hookimpl``: the marker for plugin hook implementations (see ``seqkit.hookspecs``).
- ``seqkit.engine``: the training engine behind ``seqkit run``.

Importing seqkit is cheap: plugins load on first use of a registry.
"""
from __future__ import annotations

__version__ = "0.1.0"

from . import registry  # noqa: E402
from .hookspecs import hookimpl  # noqa: E402

__all__ = ["__version__", "hookimpl", "registry"]
