"""Checkpoints: written atomically, loaded with ``torch.load(..., weights_only=True)``.

A checkpoint is a dict of plain values and tensors only (no pickled classes):
``model`` (state_dict), ``encoder`` (registry name + JSON-able state), ``task_state``
(what the task learned: classify's labels, seq2seq's target vocabulary), ``config`` (the
run's options), ``metrics`` (summary) and ``seqkit_version``.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
from typing import Any

import torch

from ..errors import CheckpointError

FORMAT = "seqkit-checkpoint"
#: 2 (seqkit 0.2): the task's state holds what only the task knows (classify's labels moved
#: there from the top level); 1 (seqkit 0.1) still loads (:func:`seqkit.engine.inference.task_state`)
FORMAT_VERSION = 2


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file, fsync and rename."""
    directory = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def atomic_write_json(path: str, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode("utf-8"))


def save(path: str, payload: dict) -> None:
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, **payload}
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(path, buf.getvalue())


def load(path: str) -> dict:
    """Load a seqkit checkpoint safely (``weights_only=True``); clear errors otherwise."""
    if not os.path.exists(path):
        raise CheckpointError(f"{path}: no such checkpoint; pass the checkpoint.pt of a `seqkit run --out DIR`")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a loadable seqkit checkpoint ({first[:200]})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a seqkit checkpoint (no '{FORMAT}' marker)")
    if int(ckpt.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(f"{path}: written by a newer seqkit (format {ckpt['format_version']}); upgrade seqkit")
    return ckpt


# -- training state for --resume -------------------------------------------------------
def rng_state() -> dict:
    """Every random generator a run draws from: torch (and CUDA), numpy, Python's random."""
    import random

    import numpy as np

    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"torch": torch.get_rng_state(),
             "numpy": {"kind": str(kind), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
                       "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)},
             "python": [list(x) if isinstance(x, tuple) else x for x in random.getstate()]}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` captured."""
    import random

    import numpy as np

    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
