"""``--precision``: float32, or bfloat16 autocast where the hardware multiplies bf16 natively."""
from __future__ import annotations

import functools

import torch


@functools.lru_cache(maxsize=None)
def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` multiplies bfloat16 natively: a CUDA GPU that supports it, or a CPU
    with AVX512-BF16 or AMX-BF16 (read from /proc/cpuinfo; elsewhere: no). Without them
    bf16 products are emulated and slower than float32. Asked once per device."""
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device.type != "cpu":
        return False
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """``fp32`` or ``bf16`` for ``--precision`` on ``device`` (``auto``: bf16 where native)."""
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


def autocast(precision: str, device: torch.device) -> torch.autocast:
    """The context of a forward pass at ``--precision``: ``bf16`` is ``torch.autocast`` with
    bfloat16 on ``device`` (matrix products and the fused GRU's GEMMs in bf16, weights,
    optimizer state, losses and softmaxes in float32); ``fp32`` changes nothing; ``auto``
    is one of them (:func:`resolve_precision`)."""
    precision = resolve_precision(precision, device)
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
