"""``seqkit export``: a trained run as ONNX, TorchScript or a ``torch.export`` program that
runs without seqkit, with a small JSON beside it saying how to feed it.

The exported graphs take padded symbol indices ``[batch, time]`` (int64, padded with the
encoder's ``pad_index``) and ``lengths [batch]`` (int64), both axes dynamic, and mask by
length: no ``PackedSequence`` is involved, so they export cleanly. The task says what its
graphs are (:meth:`seqkit.engine.task.Task.export_graphs`: classify one graph giving class
probabilities; seq2seq an encoder and one decoder step) and what the JSON records beside
the encoder's symbols (:meth:`~seqkit.engine.task.Task.export_metadata`: the labels, the
target vocabulary). The cell is exported in its padded, length-masked form
(:mod:`seqkit.nn.padded`) with its own weights: a fused GRU exports as the ``torch.nn.GRU``
it is equal to.

    from seqkit.engine import load_run
    from seqkit.engine.export import export_run
    export_run(load_run("runs/x/checkpoint.pt"), "onnx", "model.onnx")   # model.onnx, model.json

Files: ``OUT`` for a task with one graph, ``OUT`` with ``.encoder`` / ``.decoder`` before the
suffix for a task with parts (``model.encoder.onnx``), and ``OUT`` with ``.json``.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .. import __version__
from ..errors import ExportError
from ..nn.padded import NotExportable, PaddedRNN
from ..plugin import registry
from .checkpoint import atomic_write_json

if TYPE_CHECKING:  # pragma: no cover
    from .inference import Loaded

#: ``--format`` -> the suffix of its files
FORMATS = {"onnx": ".onnx", "torchscript": ".pt", "exported-program": ".pt2"}


@dataclass
class ExportGraph:
    """One graph of an exported model: the module, example inputs (at least 2 rows and 2
    steps, so that no axis is specialised), the names of inputs and outputs, and the dynamic
    axes of each input (``{"indices": {0: "batch", 1: "time"}}``). ``part`` names the graph
    when a model has several (``"encoder"``, ``"decoder"``); ``""`` for a single graph."""

    module: nn.Module
    example: tuple[torch.Tensor, ...]
    input_names: list[str]
    output_names: list[str]
    dynamic: dict[str, dict[int, str]] = field(default_factory=dict)
    part: str = ""


def example_indices(num_symbols: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Example ``(indices [3, 7], lengths [3])``: 3 padded sequences of 2 to 7 symbols (no axis
    of size 0 or 1, so the exporters specialise none of them)."""
    gen = torch.Generator().manual_seed(0)
    indices = torch.randint(2, max(3, num_symbols), (3, 7), generator=gen)
    lengths = torch.tensor([7, 2, 5])
    indices[1, 2:] = 0
    indices[2, 5:] = 0
    return indices, lengths


def output_paths(out: str, fmt: str, parts: list[str]) -> tuple[dict[str, str], str]:
    """``({part: file}, json file)`` for ``-o OUT`` (the format's suffix added when missing)."""
    suffix = FORMATS[fmt]
    stem = out[: -len(suffix)] if out.endswith(suffix) else out
    files = {p: f"{stem}.{p}{suffix}" if p else f"{stem}{suffix}" for p in parts}
    return files, f"{stem}.json"


def _write_graph(fmt: str, graph: ExportGraph, path: str) -> None:
    module = graph.module
    if fmt != "torchscript":
        for sub in module.modules():  # torch.export keeps the number of steps dynamic through a scan,
            if isinstance(sub, PaddedRNN):  # where it specialises it for aten.gru / aten.lstm
                sub.to_scan()
    module = module.eval().requires_grad_(False)  # an inference artifact: no autograd in the graph
    if fmt == "torchscript":
        torch.jit.script(module).save(path)
        return
    dims: dict[str, torch.export.Dim] = {}
    shapes = {name: {axis: dims.setdefault(dim, torch.export.Dim(dim)) for axis, dim in graph.dynamic.get(name, {}).items()}
              for name in graph.input_names}
    if fmt == "exported-program":
        with warnings.catch_warnings():  # notes on torch.nn.RNN's cached weight list
            warnings.simplefilter("ignore")
            program = torch.export.export(module, graph.example, dynamic_shapes=_by_argument(module, shapes))
        torch.export.save(program, path)
        return
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the exporter's notes on operators of packages not installed
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):  # its progress lines
            warnings.simplefilter("ignore")
            torch.onnx.export(module, graph.example, path, dynamo=True, input_names=graph.input_names,
                              output_names=graph.output_names, dynamic_shapes=_by_argument(module, shapes),
                              external_data=False, verbose=False)
    finally:
        quiet.setLevel(level)


def _by_argument(module: nn.Module, shapes: dict[str, dict]) -> dict[str, dict]:
    """The dynamic shapes keyed by the names of ``module.forward``'s arguments, in order."""
    import inspect

    args = [p for p in inspect.signature(module.forward).parameters]
    return {arg: spec for arg, spec in zip(args, shapes.values())}


def encoder_metadata(loaded: "Loaded") -> dict[str, Any]:
    """How texts become the graphs' ``indices``: the symbols in index order and the encoder's state."""
    enc = loaded.encoder
    return {"name": loaded.config.encoder, "symbols": list(enc.symbols), "pad_index": int(enc.pad_index),
            "unk_index": int(enc.unk_index), "state": enc.state_dict()}


def export_run(loaded: "Loaded", fmt: str, out: str) -> list[str]:
    """Write the exported graphs of ``loaded`` (:func:`seqkit.engine.load_run`) in ``fmt``
    and the JSON beside them; returns the paths written. One-line :class:`ExportError`
    when the task or the cell cannot be exported to ``fmt``."""
    if fmt not in FORMATS:
        raise ExportError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    config, task = loaded.config, loaded.task
    model = loaded.model.to("cpu").eval()
    try:
        graphs = task.export_graphs(model)
    except NotImplementedError:
        raise ExportError(f"task '{config.task}' (plugin '{registry.tasks.plugin(config.task)}') has no export; "
                          f"it implements no export_graphs()") from None
    except NotExportable as exc:
        raise ExportError(f"cell '{config.cell}' (plugin '{registry.cells.plugin(config.cell)}') cannot be exported "
                          f"to {fmt}: {exc}") from None
    files, sidecar = output_paths(out, fmt, [g.part for g in graphs])
    os.makedirs(os.path.dirname(os.path.abspath(sidecar)), exist_ok=True)
    for graph in graphs:
        try:
            _write_graph(fmt, graph, files[graph.part])
        except Exception as exc:  # the exporter's own errors, often many lines
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise ExportError(f"cell '{config.cell}' or task '{config.task}' could not be exported to {fmt} "
                              f"({type(exc).__name__}: {first}); try another --format") from None
    meta = {"seqkit_export": 1, "seqkit_version": __version__, "format": fmt, "task": config.task,
            "files": {g.part or "model": os.path.basename(files[g.part]) for g in graphs},
            "graphs": {g.part or "model": {"inputs": g.input_names, "outputs": g.output_names} for g in graphs},
            "encoder": encoder_metadata(loaded), **task.export_metadata()}
    atomic_write_json(sidecar, meta)
    return [files[g.part] for g in graphs] + [sidecar]


def read_metadata(path: str) -> dict[str, Any]:
    """The JSON written beside an export (for tests and tools)."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)
