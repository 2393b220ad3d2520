"""The task seam: everything task-specific the engine needs, behind one interface.

The engine (``seqkit.engine``) loads data, fits the encoder, forms batches, builds the
cell from the registry and runs the optimiser; a :class:`Task` builds the model around
the cell, computes the loss of a batch, evaluates, and writes its own artifacts.
Tasks are registered with the ``seqkit_register_tasks`` hook (``classify`` is the
built-in default).
"""
from __future__ import annotations

from typing import Any, Callable, ClassVar, Iterable, Sequence

import torch
from torch import nn

from .batch import Batch


class Task:
    """Base class; a subclass must implement :meth:`build_model`, :meth:`loss` and :meth:`evaluate`."""

    name = "task"
    #: the metric the progress bar and summary line show (a key of evaluate()'s result)
    headline = "loss"
    #: the metrics ``seqkit run`` prints on its summary line and ``seqkit eval`` after ``loss``
    summary_keys: tuple = ("top1", "top2", "top3", "macro_f1", "baseline_top1")
    #: RunConfig values this task uses where the user did not set them (e.g. its dataset);
    #: applied by the CLI and by :func:`seqkit.engine.train` (see ``RunConfig.for_task``)
    defaults: ClassVar[dict] = {}

    def build_model(self, *, encoder, make_cell: Callable[[int], nn.Module], labels: Sequence[str],
                    config) -> nn.Module:
        """The model; ``make_cell(input_size)`` creates the configured registered cell."""
        raise NotImplementedError

    def split(self, ds, config) -> tuple[Any, Any, dict]:
        """``(train_dataset, test_dataset, report)``; default: the stratified split of
        :func:`seqkit.splits.split_dataset` (``--test-size``, ``--split-seed``, ``--dedup``)."""
        from .errors import DataError
        from .splits import split_dataset

        if not hasattr(ds, "labels"):
            raise DataError(f"dataset '{config.dataset}' has no class labels: task '{config.task}' needs (text, label) "
                            f"pairs; choose a labelled dataset or another --task (e.g. seq2seq)")
        split = split_dataset(ds, test_size=config.test_size, seed=config.split_seed, dedup=config.dedup)
        return ds.subset(split.train), ds.subset(split.test), split.report

    def make_collator(self, encoder, labels: Sequence[str] | None, config):
        """The batch maker; default: the configured registry collator with the class ``labels``."""
        from . import registry

        return registry.collators.create(config.collator, encoder, labels=labels, **config.collator_options)

    def state_dict(self) -> dict:
        """What :meth:`setup` learned that the model needs again (plain, JSON-able values or
        tensors: stored in checkpoint.pt under ``task_state``)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` (called by ``load_run`` before :meth:`build_model`)."""

    def sample_weights(self, dataset, config) -> Sequence[float] | None:
        """Per-example sampling weights for the training sampler, or None (uniform)."""
        return None

    def setup(self, train_dataset, config) -> None:
        """Called once before training with the training split (e.g. for class weights)."""

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        raise NotImplementedError

    def evaluate(self, model: nn.Module, batches: Iterable[Batch], device: torch.device, *,
                 final: bool = True) -> dict[str, Any]:
        """Metrics on ``batches``: at least ``loss``; JSON-serialisable values.

        ``final`` is False for the evaluations after each epoch but the last, True for the
        last one and for ``seqkit eval``: a task may do costlier work in the final one (seq2seq
        decodes with its beam). The engine says it; a resumed run says it the same way."""
        raise NotImplementedError

    def evaluate_part(self, model: nn.Module, batches: Iterable[Batch], device: torch.device, *,
                      final: bool = True) -> Any:
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

    def predict(self, model: nn.Module, batch: Batch, *, labels: Sequence[str], top_k: int, **options) -> list[Any]:
        """One prediction per example; ``options`` are the task's (e.g. ``beam``)."""
        raise NotImplementedError

    def format_prediction(self, prediction: Any) -> str:
        """One example's prediction as ``seqkit predict`` prints it after the text
        (default: ``label probability`` pairs, as classify's)."""
        return "  ".join(f"{p['label']} {p['probability']:.3f}" for p in prediction)
