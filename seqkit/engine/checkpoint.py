"""Checkpoints: written atomically, loaded with ``torch.load(..., weights_only=True)``.

A checkpoint is a dict of plain values and tensors only (no pickled classes):
``model`` (state_dict), ``encoder`` (registry name + JSON-able state), ``task_state``
(what the task learned: classify's labels, seq2seq's target vocabulary), ``config`` (the
run's options), ``metrics`` (summary), ``seqkit_version`` and ``components`` (the name,
plugin, package and version of the run's dataset, encoder, collator, cell and task, so
that a checkpoint whose plugin is missing can say what to install).

Loading one never runs code (a pickle holding Python objects is refused) and every
failure is one line naming the file: a torn or foreign file, weights that do not fit the
model (:func:`load_weights`), a component no installed plugin provides
(:func:`check_components`).
"""
from __future__ import annotations

import io
import json
import os
import re
import tempfile
import warnings
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
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; the run's files are the user's usual ones
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


def one_line(text: str, limit: int = 300) -> str:
    """``text`` as one line (a message from torch or a plugin may span several)."""
    flat = " ".join(part.strip() for part in str(text).splitlines() if part.strip())
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


def _unsafe_reason(path: str, message: str) -> str | None:
    """Why ``torch.load(path, weights_only=True)`` refused a file that holds Python objects
    (the names of the callables it would have run, if found); ``None`` when it failed for
    another reason (a torn or foreign file)."""
    if "Weights only load failed" not in message:
        return None
    names = re.findall(r"GLOBAL ([\w.]+)", message)
    if not names:  # torch stopped at an opcode it does not read: disassemble (never execute) the pickle
        try:
            with open(path, "rb") as f:
                data = f.read(64 << 20)
        except OSError:
            return None
        names = _pickled_callables(data)
        if names is None:
            return None
    return ", ".join(dict.fromkeys(names))  # "" when the callables could not be named


def _pickled_callables(data: bytes) -> list[str] | None:
    """The callables a pickle would import or call, found by :func:`pickletools.genops`,
    which decodes the opcodes without running any; ``None`` if ``data`` is no pickle or
    imports nothing (then it is not an unsafe file, just not a checkpoint)."""
    import pickletools

    found, strings, calls = [], [], False
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING",
                           "BINSTRING", "STRING"):
                strings.append(str(arg))
            elif op.name in ("GLOBAL", "INST"):
                found.append(str(arg).replace(" ", "."))
            elif op.name == "STACK_GLOBAL":
                found.append(".".join(strings[-2:]) if len(strings) >= 2 else "a global")
            elif op.name in ("REDUCE", "OBJ", "NEWOBJ", "NEWOBJ_EX", "BUILD"):
                calls = True
            elif op.name == "STOP":
                break
    except Exception:  # not a pickle (or a torn one)
        return None
    return found if found or calls else None


def load(path: str) -> dict:
    """Load a seqkit checkpoint safely (``weights_only=True``); clear errors otherwise.

    Every failure is one :class:`CheckpointError` line naming the file. A file holding
    pickled Python objects is refused without running them, and the message never repeats
    torch's advice to retry with ``weights_only=False`` (the one thing not to do with an
    untrusted file). torch's warnings while reading (e.g. about the pickle protocol) are
    not shown: the outcome is the error or the checkpoint.
    """
    if not os.path.exists(path):
        raise CheckpointError(f"{path}: no such checkpoint; pass the checkpoint.pt of a `seqkit run --out DIR`")
    if os.path.isdir(path):
        raise CheckpointError(f"{path}: is a directory; pass the checkpoint.pt inside it")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        message = str(exc).strip()
        unsafe = _unsafe_reason(path, message)
        if unsafe is not None:
            named = f": {unsafe}" if unsafe else ""
            raise CheckpointError(
                f"{path}: not a loadable seqkit checkpoint: it is not a safe seqkit checkpoint (it holds Python "
                f"objects that would run code when loaded{named}); seqkit loads only plain tensors and values: "
                f"do not load it with weights_only=False") from None
        if os.path.getsize(path) == 0:
            why = "the file is empty"
        elif "Weights only load failed" in message or "weights_only" in message:  # never pass on torch's advice
            why = "not a checkpoint file: torn, or another format"
        else:
            why = one_line(message, 200) or type(exc).__name__
        raise CheckpointError(f"{path}: not a loadable seqkit checkpoint ({why}); pass the checkpoint.pt of a "
                              f"`seqkit run --out DIR`") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a seqkit checkpoint (no '{FORMAT}' marker)")
    if int(ckpt.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(f"{path}: written by a newer seqkit (format {ckpt['format_version']}); upgrade seqkit")
    return ckpt


# -- weights that must fit the model --------------------------------------------------
def _names(keys: list[str], shown: int = 3) -> str:
    return ", ".join(keys[:shown]) + (", ..." if len(keys) > shown else "")


def weights_mismatch(expected: dict, saved: dict) -> str | None:
    """What keeps ``saved`` (a state_dict) from loading into a module whose state_dict is
    ``expected``, in one line; ``None`` when it fits."""
    if not isinstance(saved, dict):
        return f"the weights are a {type(saved).__name__}, not a state_dict"
    missing = [k for k in expected if k not in saved]
    unexpected = [k for k in saved if k not in expected]
    sizes = [k for k in expected if k in saved and isinstance(saved[k], torch.Tensor)
             and isinstance(expected[k], torch.Tensor) and saved[k].shape != expected[k].shape]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing key{'s' if len(missing) > 1 else ''} ({_names(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected ({_names(unexpected)})")
    if sizes:
        k = sizes[0]
        more = f" (and {len(sizes) - 1} more)" if len(sizes) > 1 else ""
        parts.append(f"size mismatch for {k}: {list(saved[k].shape)} in the checkpoint, "
                     f"{list(expected[k].shape)} in the model{more}")
    return ", ".join(parts) or None


def load_weights(module, state: dict, *, path: str, what: str = "weights", fix: str) -> None:
    """``module.load_state_dict(state)``, or one :class:`CheckpointError` line naming
    ``path``, what does not fit and ``fix`` (what to do)."""
    problem = weights_mismatch(module.state_dict(), state)
    if problem is None:
        try:
            module.load_state_dict(state)
            return
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            problem = one_line(str(exc), 200)
    raise CheckpointError(f"{path}: the {what} do not fit the model: {problem}; {fix}")


# -- the components (and their plugins) a run was trained with ------------------------
#: the registry kinds whose names a run's config holds, as recorded in a checkpoint
COMPONENT_KINDS = ("dataset", "encoder", "collator", "cell", "task")


def run_components(config) -> dict:
    """``{kind: {"name", "plugin", "distribution", "version"}}`` for the dataset, encoder,
    collator, cell and task of ``config``: saved in checkpoint.pt and state.pt so that a
    checkpoint whose plugin is missing later can name the package to install."""
    from ..plugin import registry

    found = {}
    for kind in COMPONENT_KINDS:
        name = getattr(config, kind)
        try:
            plugin = registry.by_kind(kind).plugin(name)
        except Exception:  # a name registered only for a moment (tests, notebooks): record what is known
            plugin = None
        info = registry.manager.info(plugin) if plugin else None
        found[kind] = {"name": str(name), "plugin": plugin,
                       "distribution": info.distribution if info is not None else None,
                       "version": info.version if info is not None else None}
    return found


def check_components(ckpt: dict, path: str, kinds=("encoder", "collator", "cell", "task")) -> None:
    """One :class:`CheckpointError` line if a component ``ckpt`` was trained with is not
    registered now (its plugin is not installed, or failed to load), naming the plugin
    and package recorded at training time (checkpoints of seqkit 0.1 did not record them)."""
    from ..plugin import registry

    config = ckpt.get("config") or {}
    recorded = ckpt.get("components") or {}
    for kind in kinds:
        name = config.get(kind)
        if not isinstance(name, str) or name in registry.by_kind(kind):
            continue
        rec = recorded.get(kind) or {}
        rec = rec if rec.get("name") == name else {}
        plugin, dist, version = rec.get("plugin"), rec.get("distribution"), rec.get("version")
        failed = next((f for f in registry.failures() if plugin and f.plugin == plugin
                       or dist and f.distribution == dist), None)
        if failed is not None:
            raise CheckpointError(f"{path} was trained with {kind} '{name}', whose plugin '{failed.plugin}' is "
                                  f"installed but failed in {failed.stage}: {one_line(failed.error, 200)}; fix or "
                                  f"reinstall it (`seqkit plugins` shows the failure)")
        if dist:
            pin = f"{dist}=={version}" if version else dist
            source = f" (it came from plugin '{plugin}', package {dist}{f' {version}' if version else ''})"
            fix = f"pip install it: pip install {pin}"
        elif plugin and plugin != "<user>":
            source = f" (it came from plugin '{plugin}', loaded with --plugin or from Python code)"
            fix = f"load it again: seqkit --plugin {plugin} ..., or install the package that provides it"
        elif plugin:
            source = " (it was registered from Python code)"
            fix = f"register {kind} '{name}' again before loading the checkpoint"
        else:
            source = ""
            fix = "install the plugin that provides it (`seqkit plugins` lists what is installed)"
        raise CheckpointError(f"{path} was trained with {kind} '{name}', which no installed plugin "
                              f"provides{source}; {fix}")


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
