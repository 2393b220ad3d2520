"""Conformance checks for seqkit components (see :mod:`seqkit.testing.core`)."""
from __future__ import annotations

from .core import *  # noqa: F401,F403
from .core import __all__  # noqa: F401
