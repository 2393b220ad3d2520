"""Dropout whose masks come from one compiled op: :func:`dropout`.

``torch.nn.functional.dropout`` on the CPU draws its mask with ``bernoulli_``, about 100-150
us for the few thousand elements of a small model's activations (mostly fixed cost); the
default classifier draws two masks per step. :func:`dropout` draws a seed from torch's
generator (so ``torch.manual_seed`` and saved RNG states reproduce it, and a resumed run
continues bit for bit) and makes the mask in ``torch.ops.seqkit.dropout_mask`` (a
counter-based generator, csrc/kernels/cpu/dropout.h). Same expectation and the same
distribution per element as ``F.dropout``; other random draws, so not the same masks.
Elsewhere (no extension, CUDA, half precision) it is ``F.dropout``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from . import runtime

__all__ = ["dropout"]


def dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """``x`` with each element zeroed with probability ``p`` and the rest scaled by ``1/(1-p)``
    (in training; ``x`` itself otherwise), differentiable in ``x``."""
    if not training or p == 0.0:
        return x
    if not (0.0 <= p <= 1.0):
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if (p < 1.0 and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
            and runtime.backend() == "cpp"):
        seed = int(torch.randint(-2**63, 2**63 - 1, (), dtype=torch.int64))
        return x * torch.ops.seqkit.dropout_mask(x.detach(), p, seed)
    return F.dropout(x, p, training=True)


def register_python_side() -> None:
    """The fake kernel of ``seqkit::dropout_mask`` (the mask needs no autograd: it is a constant)."""

    @torch.library.register_fake("seqkit::dropout_mask")
    def _dropout_mask_fake(like, p, seed):
        return torch.empty_like(like, memory_format=torch.contiguous_format)
