"""Modules on seqkit's ops: :class:`FusedGRU` (a drop-in ``torch.nn.GRU``), the lean fused
optimizers :class:`LeanAdam` / :class:`LeanAdamW` (with one-op ``clip_and_step``), and
:func:`map_packed`. Each name loads its module on first use."""
from __future__ import annotations

from .. import lazy

_WHERE = {"FusedGRU": ".fused_gru", "LeanAdam": ".optim", "LeanAdamW": ".optim", "map_packed": ".packed",
          "last_states": ".packed"}

__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy.exports(__name__, _WHERE)
