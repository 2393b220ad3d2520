"""The run directory (``--out``): what it holds, and whether a run may start, resume or
must be refused.

A finished run holds ``checkpoint.pt`` and ``metrics.json`` (plus ``history.jsonl`` and
the plots); an interrupted one holds ``state.pt``, the whole training state written
atomically after every epoch and every ``--checkpoint-every`` steps. A run whose options
(other than the run-control ones, :func:`~seqkit.engine.config.run_control`) or data
differ is never overwritten without ``--overwrite``.
"""
from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from ..errors import ConfigError
from .checkpoint import load as load_checkpoint
from .config import RunConfig, config_dict, run_control

STATE_FILE = "state.pt"
CHECKPOINT_FILE = "checkpoint.pt"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.jsonl"


def config_differences(saved: dict, config: RunConfig) -> list[str]:
    """``option: saved -> now`` for every computing option that differs."""
    from .config import migrate

    saved, now, control = migrate(saved), config_dict(config), set(run_control())
    diffs = []
    for key in sorted(set(saved) | set(now)):
        if key in control:
            continue
        a, b = saved.get(key, "<unset>"), now.get(key, "<unset>")
        if a != b:
            diffs.append(f"{key.replace('_', '-')} {a!r} -> {b!r}")
    return diffs


def data_fingerprint(train_ds, test_ds) -> str:
    """What a resume must find unchanged: labels, split sizes, lengths and label codes."""
    h = hashlib.sha256()
    h.update(json.dumps(list(getattr(train_ds, "labels", None) or [])).encode())
    for part in (train_ds, test_ds):
        h.update(np.int64(len(part)).tobytes())
        h.update(np.ascontiguousarray(part.lengths(), dtype=np.int64).tobytes())
        if hasattr(part, "label_indices"):
            h.update(np.ascontiguousarray(part.label_indices(), dtype=np.int64).tobytes())
    return h.hexdigest()


def clean_partial_writes(out: str) -> None:
    """Remove temporary files an interrupted atomic write left behind."""
    for name in os.listdir(out):
        if name.startswith(".tmp-"):
            try:
                os.unlink(os.path.join(out, name))
            except OSError:
                pass


def prepare_run_dir(config: RunConfig, log=None) -> dict | None:
    """Decide what ``config.out`` holds: ``None`` (start afresh) or the state to resume
    (``{"complete": True, ...}`` for a finished run: nothing to do).

    An existing run with another configuration is refused unless ``overwrite``; an
    interrupted run with this configuration needs ``resume`` (or ``overwrite``).
    """
    out = config.out
    if os.path.exists(out) and not os.path.isdir(out):
        raise ConfigError(f"--out {out}: exists and is not a directory; choose another --out")
    state_path, ckpt_path = os.path.join(out, STATE_FILE), os.path.join(out, CHECKPOINT_FILE)
    existing = state_path if os.path.exists(state_path) else ckpt_path if os.path.exists(ckpt_path) else None
    if existing is None:
        if config.resume and log is not None:
            log(f"resume: {out} holds no run yet; starting a new one")
        return None
    clean_partial_writes(out)
    if config.overwrite:
        for path in (state_path, ckpt_path):
            if os.path.exists(path):
                os.unlink(path)
        return None
    saved = load_checkpoint(existing)
    diffs = config_differences(saved.get("config") or {}, config)
    if diffs:
        raise ConfigError(f"--out {out} holds a run with another configuration ({'; '.join(diffs[:4])}"
                          f"{'; ...' if len(diffs) > 4 else ''}); choose another --out, rerun with the same "
                          f"options, or pass --overwrite to replace it")
    interrupted = existing == state_path and not saved.get("complete", False)
    if not config.resume:
        if interrupted:
            raise ConfigError(f"--out {out} holds an interrupted run (epoch {saved['epoch']}, step {saved['step']} "
                              f"of {config.epochs} epochs); pass --resume to continue it, or --overwrite to start "
                              f"over")
        return None  # a finished run with the same options: run it again
    if existing == ckpt_path:
        saved = {"complete": True, "config": saved.get("config")}
    return saved
