"""The task seam: everything task-specific the engine needs, behind one interface.

The engine (``seqkit.engine``) loads data, fits the encoder, forms batches, builds the
cell from the registry and runs the optimiser; a :class:`Task` builds the model around
the cell, computes the loss of a batch, evaluates, and writes its own artifacts.
Tasks are registered with the ``seqkit_register_tasks`` hook (``classify`` is the
built-in default).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

import torch
from torch import nn

from .batch import Batch


class Task:
    """Base class; a subclass must implement :meth:`build_model`, :meth:`loss` and :meth:`evaluate`."""

    name = "task"
    #: the metric the progress bar and summary line show (a key of evaluate()'s result)
    headline = "loss"

    def build_model(self, *, encoder, make_cell: Callable[[int], nn.Module], labels: Sequence[str],
                    config) -> nn.Module:
        """The model; ``make_cell(input_size)`` creates the configured registered cell."""
        raise NotImplementedError

    def sample_weights(self, dataset, config) -> Sequence[float] | None:
        """Per-example sampling weights for the training sampler, or None (uniform)."""
        return None

    def setup(self, train_dataset, config) -> None:
        """Called once before training with the training split (e.g. for class weights)."""

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        raise NotImplementedError

    def evaluate(self, model: nn.Module, batches: Iterable[Batch], device: torch.device) -> dict[str, Any]:
        """Metrics on ``batches``: at least ``loss``; JSON-serialisable values."""
        raise NotImplementedError

    def evaluate_part(self, model: nn.Module, batches: Iterable[Batch], device: torch.device) -> Any:
        """Partial results of one process's share of the test set, for data-parallel runs.

        Return something picklable that :meth:`reduce_parts` turns into the metrics of the
        whole set, or None (the default): every process then evaluates the whole set.
        """
        return None

    def reduce_parts(self, parts: list[Any]) -> dict[str, Any]:
        """The metrics of the whole test set from every process's :meth:`evaluate_part`."""
        raise NotImplementedError

    def epoch_record(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """The scalars of ``metrics`` that go into history.jsonl (default: all numbers)."""
        return {k: v for k, v in metrics.items() if isinstance(v, (int, float))}

    def finalize(self, metrics: dict[str, Any], *, train_dataset, test_dataset) -> dict[str, Any]:
        """Add task-level figures (baselines, ...) to the final metrics."""
        return metrics

    def write_artifacts(self, out_dir: str, metrics: dict[str, Any], history: list[dict]) -> list[str]:
        """Write plots or reports into ``out_dir``; return the paths written."""
        return []

    def predict(self, model: nn.Module, batch: Batch, *, labels: Sequence[str], top_k: int) -> list[Any]:
        raise NotImplementedError
