"""The training engine: a run's options, the task seam, the loop, checkpoints, inference.

- :mod:`~seqkit.engine.config`: :class:`RunConfig`, every option declared once.
- :mod:`~seqkit.engine.auto`: :func:`resolve_auto`, ``--cell auto`` / ``--collator auto``.
- :mod:`~seqkit.engine.task`: :class:`Task` and the :class:`TaskContext` it gets.
- :mod:`~seqkit.engine.components`: the run's parts made from its options.
- :mod:`~seqkit.engine.trainer`: :func:`train`, :class:`Trainer` and its :class:`TrainState`.
- :mod:`~seqkit.engine.evaluation`, :mod:`~seqkit.engine.loader`, :mod:`~seqkit.engine.precision`.
- :mod:`~seqkit.engine.rundir`, :mod:`~seqkit.engine.checkpoint`: the run directory, safe files.
- :mod:`~seqkit.engine.distributed`, :mod:`~seqkit.engine.launch`: data-parallel runs.
- :mod:`~seqkit.engine.inference`: :func:`load_run`, :func:`predict`, :func:`evaluate_run`.
- :mod:`~seqkit.engine.export`: :func:`export_run` (ONNX, TorchScript, torch.export).

Python use::

    from seqkit.engine import RunConfig, train
    metrics = train(RunConfig(data="names/", epochs=5, out="runs/x"))

The names below are importable from ``seqkit.engine``; each loads its module on first use
(``RunConfig`` without torch).
"""
from __future__ import annotations

from .. import lazy

_WHERE = {
    "RunConfig": ".config", "apply_task_defaults": ".config", "make_task": ".config", "resolve_auto": ".auto",
    "Task": ".task", "TaskContext": ".task", "ModelOptions": ".task", "SplitOptions": ".task",
    "train": ".trainer", "Trainer": ".trainer", "TrainState": ".trainer",
    "clip_gradients": ".components", "make_optimizer": ".components", "make_schedule": ".components",
    "cell_factory": ".components", "collator_factory": ".components", "load_dataset": ".components",
    "create": ".config", "resolve_device": ".components",
    "InProcessLoader": ".loader", "make_loader": ".loader",
    "autocast": ".precision", "resolve_precision": ".precision",
    "Loaded": ".inference", "load_run": ".inference", "predict": ".inference", "evaluate_run": ".inference",
    "export_run": ".export", "ExportGraph": ".export",
}

__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy.exports(__name__, _WHERE)
