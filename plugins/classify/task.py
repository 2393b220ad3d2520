"""The ``classify`` task: sequence -> one class (e.g. surname -> language)."""
from __future__ import annotations

import os
from typing import Any, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from seqkit.data.batch import Batch
from seqkit.data.dataset import PairDataset
from seqkit.data.sampling import class_weights
from seqkit.data.splits import split_dataset
from seqkit.engine.task import Task, TaskContext
from seqkit.errors import ConfigError, DataError

from .metrics import classification_metrics, majority_baseline
from .model import InputLayer, SequenceClassifier
from .plots import confusion_plot

#: ``balance``: class balancing by a weighted sampler, a weighted loss, or none
BALANCE = ("none", "sampler", "loss")


def as_pair_dataset(ds, name: str) -> PairDataset:
    """A labelled dataset as a :class:`PairDataset` (any Dataset of (text, label) pairs with
    a ``labels`` list will do); a dataset without labels is refused for this task."""
    if not hasattr(ds, "labels"):
        raise DataError(f"dataset '{name}' has no class labels: task 'classify' needs (text, label) pairs; choose "
                        f"a labelled dataset or another --task (e.g. seq2seq)")
    if isinstance(ds, PairDataset):
        return ds
    pairs = [ds[i] for i in range(len(ds))]
    return PairDataset([p[0] for p in pairs], [p[1] for p in pairs], labels=ds.labels,
                       source=getattr(ds, "source", name))


class ClassifyTask(Task):
    """One-hot or embedding input -> cell -> last valid state(s) -> linear head.

    Loss: cross-entropy (class-weighted with ``balance="loss"``, optional label smoothing).
    Metrics: loss, top-1/2/3 accuracy, macro-F1, per-class accuracy and the confusion
    matrix; ``finalize`` adds the majority-class baseline. Its state is the class labels.

    Options (``--balance``, ``-o task.balance=...``): ``balance`` is ``none``, ``sampler``
    (draw examples with inverse class frequency) or ``loss`` (weight the loss by it).
    """

    name = "classify"
    headline = "top1"
    summary_keys = ("top1", "top2", "top3", "macro_f1", "baseline_top1")

    def __init__(self, *, balance: str = "none"):
        if balance not in BALANCE:
            raise ConfigError(f"--balance must be one of {', '.join(BALANCE)}, got {balance!r}")
        self.balance = balance
        self.loss_weight: torch.Tensor | None = None
        self.label_smoothing = 0.0
        self.labels: list[str] = []

    # -- data ----------------------------------------------------------------------
    def split(self, dataset, ctx: TaskContext):
        """The stratified split of :func:`seqkit.data.splits.split_dataset` (``--test-size``,
        ``--split-seed``, ``--dedup``)."""
        ds = as_pair_dataset(dataset, ctx.dataset)
        split = split_dataset(ds, test_size=ctx.split.test_size, seed=ctx.split.seed, dedup=ctx.split.dedup)
        return ds.subset(split.train), ds.subset(split.test), split.report

    def setup(self, train_dataset, ctx: TaskContext) -> None:
        self.labels = list(train_dataset.labels)
        self.label_smoothing = float(ctx.label_smoothing)
        if self.balance == "loss":
            w = class_weights(train_dataset.label_indices(), len(train_dataset.labels))
            self.loss_weight = torch.tensor(w, dtype=torch.float32)

    def sample_weights(self, dataset, ctx: TaskContext) -> Sequence[float] | None:
        if self.balance != "sampler":
            return None
        y = dataset.label_indices()
        return class_weights(y, len(dataset.labels))[y]

    def make_collator(self, ctx: TaskContext):
        return ctx.make_collator(ctx.encoder, labels=self.labels or None)

    def state_dict(self) -> dict:
        return {"labels": list(self.labels)}

    def load_state_dict(self, state: dict) -> None:
        if "labels" not in state:
            raise KeyError("task_state.labels")
        self.labels = list(state["labels"])

    def evaluation_data(self, dataset, where: str) -> PairDataset:
        """Labelled data for this trained model: its labels must be ones the model knows."""
        unknown = sorted(set(getattr(dataset, "labels", None) or []) - set(self.labels))
        if unknown:
            raise DataError(f"{where}: labels {', '.join(unknown)} were not in the training data of this "
                            f"checkpoint (it knows: {', '.join(self.labels)})")
        ds = as_pair_dataset(dataset, where)
        return PairDataset(ds.texts, ds.targets, labels=self.labels, source=ds.source)

    # -- model ---------------------------------------------------------------------
    def build_model(self, ctx: TaskContext):
        encoder, m = ctx.encoder, ctx.model
        input_size = encoder.size if encoder.one_hot else m.embedding_dim
        cell = ctx.make_cell(input_size)
        input_layer = InputLayer(encoder.size, one_hot=encoder.one_hot, embedding_dim=m.embedding_dim,
                                 pad_index=encoder.pad_index, pass_indices=ctx.cell_takes_indices)
        return SequenceClassifier(input_layer, cell, hidden_size=m.hidden_size, bidirectional=m.bidirectional,
                                  num_classes=len(self.labels), dropout=m.head_dropout,
                                  input_dropout=m.input_dropout, fold_embedding=ctx.cell_folds_embedding)

    def loss(self, model, batch: Batch) -> torch.Tensor:
        logits = model(batch.inputs, batch.lengths)
        weight = None if self.loss_weight is None else self.loss_weight.to(logits.device)
        return F.cross_entropy(logits, batch.targets, weight=weight, label_smoothing=self.label_smoothing)

    # -- evaluation ----------------------------------------------------------------
    def _scores(self, model, batches: Iterable[Batch]) -> tuple[np.ndarray, np.ndarray, float, int]:
        all_logits, all_targets, loss_sum, n = [], [], 0.0, 0
        for batch in batches:
            logits = model(batch.inputs, batch.lengths).float()
            loss_sum += float(F.cross_entropy(logits, batch.targets, reduction="sum"))
            n += batch.size
            all_logits.append(logits.cpu())
            all_targets.append(batch.targets.cpu())
        if not all_logits:
            return np.zeros((0, max(1, len(self.labels))), np.float32), np.zeros(0, np.int64), 0.0, 0
        return torch.cat(all_logits).numpy(), torch.cat(all_targets).numpy(), loss_sum, n

    def evaluate(self, model, batches, device, *, final: bool = True) -> dict[str, Any]:
        return self.reduce_parts([self.evaluate_part(model, batches, device)])

    def evaluate_part(self, model, batches, device, *, final: bool = True):
        logits, targets, loss_sum, n = self._scores(model, batches)
        return {"logits": logits, "targets": targets, "loss_sum": loss_sum, "n": n}

    def reduce_parts(self, parts) -> dict[str, Any]:
        parts = [p for p in parts if p["n"]]
        logits = np.concatenate([p["logits"] for p in parts])
        targets = np.concatenate([p["targets"] for p in parts])
        labels = self.labels or [str(i) for i in range(logits.shape[1])]
        metrics = {"loss": sum(p["loss_sum"] for p in parts) / max(1, sum(p["n"] for p in parts))}
        metrics.update(classification_metrics(targets, logits, labels))
        return metrics

    def epoch_record(self, metrics):
        return {k: metrics[k] for k in ("top1", "top2", "top3", "macro_f1") if k in metrics}

    def finalize(self, metrics, *, train_dataset, test_dataset):
        majority, acc = majority_baseline(train_dataset.label_indices(), test_dataset.label_indices())
        metrics["labels"] = list(train_dataset.labels)
        metrics["baseline_top1"] = acc
        metrics["baseline_label"] = train_dataset.labels[majority]
        return metrics

    def write_artifacts(self, out_dir, metrics, history):
        if "confusion" not in metrics:
            return []
        return [confusion_plot(metrics["confusion"], metrics["labels"], os.path.join(out_dir, "confusion.png"))]

    # -- export --------------------------------------------------------------------
    def export_graphs(self, model):
        """One graph: ``(indices [B, T], lengths [B]) -> probabilities [B, classes]``."""
        from seqkit.engine.export import ExportGraph, example_indices

        from .export import ClassifierGraph

        graph = ClassifierGraph(model).eval()
        return [ExportGraph(graph, example_indices(graph.embedding.num_embeddings), ["indices", "lengths"],
                            ["probabilities"], {"indices": {0: "batch", 1: "time"}, "lengths": {0: "batch"}})]

    def export_metadata(self) -> dict[str, Any]:
        return {"labels": list(self.labels),
                "outputs": {"probabilities": "[batch, classes] float: the probability of each label, in the "
                                             "order of 'labels'"}}

    # -- prediction ----------------------------------------------------------------
    def predict(self, model, batch: Batch, *, top_k: int, **options):
        if options:
            raise ConfigError(f"task 'classify' has no prediction option {', '.join(sorted(options))} "
                              f"(--beam is for seq2seq checkpoints)")
        probs = torch.softmax(model(batch.inputs, batch.lengths).float(), dim=-1).cpu()
        k = max(1, min(int(top_k), probs.shape[1]))
        values, indices = probs.topk(k, dim=-1)
        return [[{"label": self.labels[int(i)], "probability": float(v)} for v, i in zip(vs, ix)]
                for vs, ix in zip(values, indices)]

    def format_prediction(self, prediction) -> str:
        return "  ".join(f"{p['label']} {p['probability']:.3f}" for p in prediction)
