"""seqkit's compiled ops and their pure-PyTorch references.

This package is the only place that knows which implementation runs
(:mod:`seqkit.ops.runtime`): ``"cpp"``, the kernels of ``csrc/`` (``seqkit._C``, installed
by ``pip install`` or built once from a source checkout into ``$SEQKIT_CACHE``), or
``"reference"``, pure PyTorch, when the extension cannot be loaded (one warning) or
``SEQKIT_BACKEND=reference`` asks for it (``SEQKIT_BACKEND=cpp`` makes a missing
extension an error instead).

Public API:

- :func:`backend` -> ``"cpp"`` or ``"reference"``; :func:`backend_reason`
- :func:`encode_pack` (list of str -> PackedSequence), :mod:`seqkit.ops.encode_pack`
- :func:`encode_pack_corpus` (flat pre-encoded corpus + row indices -> PackedSequence)
- :func:`gru_layer` (one GRU layer, one direction, on packed data; differentiable) and
  :func:`gru_layer_bidir` (both directions of a layer, side by side on the CPU),
  :mod:`seqkit.ops.gru`
- :func:`dropout` (``F.dropout`` with masks from one compiled op), :mod:`seqkit.ops.dropout`

The compiled ops are ``torch.ops.seqkit.encode_pack_corpus``, ``gru_forward``,
``gru_backward``, ``gru_bidir_forward``, ``gru_bidir_backward``, ``dropout_mask`` and ``adam_step_`` (:mod:`seqkit.nn.optim`); each op's module registers
its fake kernel and autograd formula (``torch.library.register_fake`` /
``register_autograd``) when the extension loads.
"""
from __future__ import annotations

from .runtime import backend, backend_reason
from .encode_pack import encode_pack, encode_pack_corpus
from .dropout import dropout
from .gru import gru_layer, gru_layer_bidir

__all__ = ["backend", "backend_reason", "dropout", "encode_pack", "encode_pack_corpus", "gru_layer",
           "gru_layer_bidir"]
