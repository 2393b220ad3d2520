"""Data-parallel training with ``torch.distributed``: process-group setup and collectives.

A run is distributed when it is started by ``torchrun`` (which sets ``WORLD_SIZE``,
``RANK``, ``LOCAL_RANK`` and the rendezvous variables), for instance::

    torchrun --nproc-per-node 2 -m seqkit run --batch-size 32 ...
    seqkit run --nproc 2 --batch-size 32 ...          # the same, launched for you

The backend is gloo on CPU and nccl on CUDA (each process then uses ``cuda:LOCAL_RANK``).
``--batch-size`` is per process: the global batch is ``batch_size * world_size``, and the
length-bucketing sampler hands every rank a disjoint share of the same global batches
(:class:`seqkit.data.sampling.BucketBatchSampler`). Rank 0 alone writes the run directory.
See docs/distributed.md.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch

from ..errors import ConfigError


@dataclass(frozen=True)
class World:
    """Where this process stands: ``size`` processes, this one is ``rank``."""

    size: int = 1
    rank: int = 0
    local_rank: int = 0
    backend: str | None = None

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        """Rank 0: the process that logs and writes files."""
        return self.rank == 0


SINGLE = World()


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"${name}={raw!r} is not an integer; launch with torchrun or `seqkit run --nproc N`") \
            from None


def world_from_env() -> World:
    """The world torchrun describes in the environment (a single process without it)."""
    size = _env_int("WORLD_SIZE", 1)
    if size <= 1:
        return SINGLE
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    if not 0 <= rank < size:
        raise ConfigError(f"$RANK={rank} is outside 0..{size - 1} ($WORLD_SIZE={size})")
    return World(size=size, rank=rank, local_rank=local_rank)


def init(device: torch.device) -> World:
    """Join the process group torchrun set up (no-op for a single process)."""
    world = world_from_env()
    if not world.distributed:
        return world
    import torch.distributed as dist

    backend = "nccl" if device.type == "cuda" else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        missing = [v for v in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(v)]
        if missing:
            raise ConfigError(f"WORLD_SIZE={world.size} but {', '.join('$' + m for m in missing)} not set; "
                              f"launch with torchrun or `seqkit run --nproc N`")
        dist.init_process_group(backend=backend, timeout=timedelta(minutes=30))
    return World(world.size, world.rank, world.local_rank, backend)


def device_for(world: World, device: torch.device) -> torch.device:
    """CUDA ranks each take their own GPU (``cuda:LOCAL_RANK``)."""
    if world.distributed and device.type == "cuda":
        return torch.device("cuda", world.local_rank)
    return device


def shutdown(world: World) -> None:
    if world.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def all_gather_object(world: World, obj: Any) -> list[Any]:
    """``obj`` of every rank, in rank order."""
    if not world.distributed:
        return [obj]
    import torch.distributed as dist

    out: list[Any] = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(world: World, obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not world.distributed:
        return obj
    import torch.distributed as dist

    box = [obj if world.main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_reduce(world: World, values: list[float], op: str = "sum", device: torch.device | None = None) -> list[float]:
    """Element-wise sum or max of ``values`` over ranks (float64)."""
    if not world.distributed:
        return list(values)
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=device if world.backend == "nccl" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
    return t.tolist()


def barrier(world: World) -> None:
    if world.distributed:
        import torch.distributed as dist

        dist.barrier()
