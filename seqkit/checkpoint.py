"""Checkpoints: written atomically, loaded with ``torch.load(..., weights_only=True)``.

A checkpoint is a dict of plain values and tensors only (no pickled classes):
``model`` (state_dict), ``encoder`` (registry name + JSON-able state), ``labels``,
``config`` (the run's options), ``metrics`` (summary) and ``seqkit_version``.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
from typing import Any

import torch

from .errors import CheckpointError

FORMAT = "seqkit-checkpoint"
FORMAT_VERSION = 1


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
