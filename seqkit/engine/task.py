"""The task seam: everything task-specific the engine needs, behind one interface.

The engine (:mod:`seqkit.engine.trainer`) loads data, fits the encoder, forms batches,
builds the cell from the registry and runs the optimiser; a :class:`Task` splits the data,
builds the model around the cell, computes the loss of a batch, evaluates, predicts and
writes its own artifacts. A task gets from the engine a :class:`TaskContext` (the run's
model sizes, split settings, the fitted encoder, the device, and factories for the
configured cell and collator), never the whole run configuration; its own options are its
factory's keyword arguments. Tasks are registered with the ``seqkit_register_tasks`` hook
(``classify`` and ``seq2seq`` are built-in plugins).

Order of the calls in a run: ``split`` -> (encoder fitted) -> ``setup`` -> ``make_collator``
-> ``build_model`` -> per batch ``loss`` -> per epoch ``evaluate`` (``final=True`` the last
time) -> ``finalize`` -> ``state_dict`` (into checkpoint.pt) -> ``write_artifacts``.
``seqkit predict`` / ``eval`` call ``load_state_dict`` -> ``make_collator`` ->
``build_model`` -> ``predict`` / ``evaluate``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

    from ..data.batch import Batch
    from .config import RunConfig


@dataclass(frozen=True)
class ModelOptions:
    """The sizes and regularisation a task builds its model with (from the run's options)."""

    embedding_dim: int = 64
    hidden_size: int = 128
    layers: int = 1
    bidirectional: bool = True
    #: between cell layers (the cell applies it)
    dropout: float = 0.0
    input_dropout: float = 0.0
    head_dropout: float = 0.0


@dataclass(frozen=True)
class SplitOptions:
    """How the data is split into train and test (``--test-size``, ``--split-seed``, ``--dedup``)."""

    test_size: float = 0.2
    seed: int = 0
    dedup: bool = False


@dataclass
class TaskContext:
    """What the engine gives a task: the run settings a task may use, typed, and the pieces
    it builds its model and batches from.

    - ``make_cell(input_size, **overrides)``: the configured cell (``overrides``:
      ``hidden_size``, ``num_layers``, ``bidirectional`` other than the run's).
    - ``make_collator(encoder, labels=None)``: the configured collator.
    - ``cell_capabilities``: what the cell's registration declared (``"indices"``: it
      takes symbol indices where one-hot rows are meant; ``"embedding"``: it takes symbol
      indices with ``embedding=`` a ``[num_symbols, input_size]`` table and folds the table
      into its input projection, equal to being fed the embedded rows).
    - ``encoder``: the fitted encoder (None before the engine has fitted it).
    """

    model: ModelOptions = field(default_factory=ModelOptions)
    split: SplitOptions = field(default_factory=SplitOptions)
    label_smoothing: float = 0.0
    epochs: int = 1
    quiet: bool = True
    #: the registered names of the run's dataset and cell (for messages)
    dataset: str = ""
    cell: str = ""
    cell_capabilities: frozenset = frozenset()
    make_cell: Callable[..., Any] | None = None
    make_collator: Callable[..., Any] | None = None
    encoder: Any = None
    device: Any = None

    @property
    def cell_takes_indices(self) -> bool:
        """Whether the cell declared that it takes symbol indices for one-hot input."""
        return "indices" in self.cell_capabilities

    @property
    def cell_folds_embedding(self) -> bool:
        """Whether the cell declared that it folds an embedding table (``cell(x, embedding=E)``)."""
        return "embedding" in self.cell_capabilities

    @classmethod
    def from_config(cls, config: "RunConfig", *, encoder: Any = None, device: Any = None) -> "TaskContext":
        """The context of a run configured by ``config`` (what the engine builds; handy in
        your own code and tests to build a task's model outside a run); a cell or collator
        ``auto`` is resolved as a run resolves it (:func:`seqkit.engine.auto.resolve_auto`)."""
        from .auto import resolve_auto
        from .components import cell_factory, collator_factory
        from ..plugin import registry

        config = resolve_auto(config)
        return cls(
            model=ModelOptions(config.embedding_dim, config.hidden_size, config.layers, config.bidirectional,
                               config.dropout, config.input_dropout, config.head_dropout),
            split=SplitOptions(config.test_size, config.split_seed, config.dedup),
            label_smoothing=config.label_smoothing, epochs=config.epochs, quiet=config.quiet,
            dataset=config.dataset, cell=config.cell, cell_capabilities=registry.cells.entry(config.cell).capabilities,
            make_cell=cell_factory(config), make_collator=collator_factory(config), encoder=encoder, device=device)


class Task:
    """Base class; a subclass implements :meth:`split`, :meth:`build_model`, :meth:`loss`
    and :meth:`evaluate` (and :meth:`predict` for ``seqkit predict``)."""

    name = "task"
    #: the metric the progress bar and summary line show (a key of evaluate()'s result)
    headline = "loss"
    #: the metrics ``seqkit run`` prints on its summary line and ``seqkit eval`` after ``loss``
    summary_keys: tuple = ()

    def split(self, dataset, ctx: TaskContext) -> tuple[Any, Any, dict]:
        """``(train_dataset, test_dataset, report)``: a JSON-able ``report`` of the split."""
        raise NotImplementedError

    def setup(self, train_dataset, ctx: TaskContext) -> None:
        """Called once before training with the training split and the fitted encoder
        (``ctx.encoder``): learn what the model needs (classes, a target vocabulary, ...)."""

    def sample_weights(self, dataset, ctx: TaskContext) -> Any:
        """Per-example sampling weights for the training sampler, or None (uniform)."""
        return None

    def make_collator(self, ctx: TaskContext):
        """The batch maker; default: the configured collator, no labels."""
        return ctx.make_collator(ctx.encoder)

    def build_model(self, ctx: TaskContext) -> "nn.Module":
        """The model around ``ctx.make_cell(input_size)``."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        """What :meth:`setup` learned that the model needs again (plain, JSON-able values or
        tensors: stored in checkpoint.pt under ``task_state``)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` (called by ``load_run`` before :meth:`build_model`)."""

    def loss(self, model: "nn.Module", batch: "Batch") -> "torch.Tensor":
        raise NotImplementedError

    def evaluate(self, model: "nn.Module", batches: Iterable["Batch"], device: "torch.device", *,
                 final: bool = True) -> dict[str, Any]:
        """Metrics on ``batches``: at least ``loss``; JSON-serialisable values.

        ``final`` is False for the evaluations after each epoch but the last, True for the
        last one and for ``seqkit eval``: a task may do costlier work in the final one (seq2seq
        decodes with its beam). The engine says it; a resumed run says it the same way."""
        raise NotImplementedError

    def evaluate_part(self, model: "nn.Module", batches: Iterable["Batch"], device: "torch.device", *,
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
        """Write plots or reports into ``out_dir`` besides the engine's own (metrics.json,
        history.jsonl, checkpoint.pt, loss.png); return the paths written."""
        return []

    def evaluation_data(self, dataset, where: str):
        """``dataset`` as :meth:`evaluate` of this trained task takes it (``seqkit eval
        --data``); default: unchanged. A task refuses data it cannot score here."""
        return dataset

    def export_graphs(self, model: "nn.Module") -> list:
        """The graphs ``seqkit export`` writes for ``model`` (a list of
        :class:`seqkit.engine.export.ExportGraph`): modules on padded symbol indices and
        lengths, with the cell in its exportable form (:func:`seqkit.nn.padded.exportable_cell`).
        Default: not exportable."""
        raise NotImplementedError

    def export_metadata(self) -> dict[str, Any]:
        """What the JSON beside an export records for this task (labels, a vocabulary, ...)."""
        return {}

    def predict(self, model: "nn.Module", batch: "Batch", *, top_k: int, **options) -> list[Any]:
        """One prediction per example; ``options`` are the task's (e.g. ``beam``)."""
        raise NotImplementedError

    def format_prediction(self, prediction: Any) -> str:
        """One example's prediction as ``seqkit predict`` prints it after the text."""
        return str(prediction)
