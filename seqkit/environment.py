"""The ``SEQKIT_*`` environment variables, read in one place.

=============================== ======================================================
``SEQKIT_DATA``                 default ``--data`` of the datasets that take a path
``SEQKIT_CACHE``                downloads and JIT builds (default ``~/.cache/seqkit``)
``SEQKIT_OFFLINE=1``            never download (a missing dataset is an error)
``SEQKIT_BACKEND``              ``auto`` (default), ``cpp`` or ``reference`` ops
``SEQKIT_STRICT_PLUGINS=1``     any plugin failure is fatal
``SEQKIT_DISABLE_PLUGIN_AUTOLOAD=1``  load only the built-in plugins
``SEQKIT_LOAD_PLUGINS=a,b``     load only these third-party plugins
=============================== ======================================================

Flags are true when set to ``1``, ``true``, ``yes`` or ``on`` (any case). This module
imports nothing heavy: the CLI reads it before torch is loaded.
"""
from __future__ import annotations

import os

TRUE = frozenset({"1", "true", "yes", "on"})


def flag(name: str) -> bool:
    """Whether the environment variable ``name`` is set to a true value."""
    return os.environ.get(name, "").strip().lower() in TRUE


def cache_dir() -> str:
    """Where downloads and JIT builds go: ``$SEQKIT_CACHE`` or ``~/.cache/seqkit`` (absolute)."""
    root = os.environ.get("SEQKIT_CACHE") or os.path.join("~", ".cache", "seqkit")
    return os.path.abspath(os.path.expanduser(root))
