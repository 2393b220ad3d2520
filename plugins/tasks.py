"""Built-in task ``classify``: sequence -> one class (e.g. surname -> language)."""
from __future__ import annotations

import os
from typing import Any, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from seqkit import hookimpl
from seqkit.batch import Batch
from seqkit.errors import ConfigError
from seqkit.metrics import classification_metrics, majority_baseline
from seqkit.models import InputLayer, SequenceClassifier
from seqkit.plots import confusion_plot, loss_plot
from seqkit.sampling import class_weights
from seqkit.tasks import Task


class ClassifyTask(Task):
    """One-hot or embedding input -> cell -> last valid state(s) -> linear head.

    Loss: cross-entropy (class-weighted with ``--balance loss``, optional label
    smoothing). Metrics: loss, top-1/2/3 accuracy, macro-F1, per-class accuracy and the
    confusion matrix; ``finalize`` adds the majority-class baseline.
    """

    name = "classify"
    headline = "top1"

    def __init__(self):
        self.loss_weight: torch.Tensor | None = None
        self.label_smoothing = 0.0
        self.labels: list[str] = []

    def setup(self, train_dataset, config) -> None:
        self.label_smoothing = float(getattr(config, "label_smoothing", 0.0))
        if getattr(config, "balance", "none") == "loss":
            w = class_weights(train_dataset.label_indices(), len(train_dataset.labels))
            self.loss_weight = torch.tensor(w, dtype=torch.float32)

    def sample_weights(self, dataset, config) -> Sequence[float] | None:
        if getattr(config, "balance", "none") != "sampler":
            return None
        y = dataset.label_indices()
        return class_weights(y, len(dataset.labels))[y]

    def build_model(self, *, encoder, make_cell, labels, config):
        self.labels = list(labels)
        input_size = encoder.size if encoder.one_hot else config.embedding_dim
        cell = make_cell(input_size)
        input_layer = InputLayer(encoder.size, one_hot=encoder.one_hot, embedding_dim=config.embedding_dim,
                                 pad_index=encoder.pad_index,
                                 pass_indices=bool(getattr(cell, "accepts_indices", False)))
        return SequenceClassifier(input_layer, cell, hidden_size=config.hidden_size,
                                  bidirectional=config.bidirectional, num_classes=len(labels),
                                  dropout=getattr(config, "head_dropout", 0.0),
                                  input_dropout=getattr(config, "input_dropout", 0.0))

    def loss(self, model, batch: Batch) -> torch.Tensor:
        logits = model(batch.inputs, batch.lengths)
        weight = None if self.loss_weight is None else self.loss_weight.to(logits.device)
        return F.cross_entropy(logits, batch.targets, weight=weight, label_smoothing=self.label_smoothing)

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
        paths = [loss_plot(history, os.path.join(out_dir, "loss.png"))]
        if "confusion" in metrics:
            paths.append(confusion_plot(metrics["confusion"], metrics["labels"],
                                        os.path.join(out_dir, "confusion.png")))
        return paths

    def predict(self, model, batch: Batch, *, labels, top_k: int, **options):
        if options:
            raise ConfigError(f"task 'classify' has no prediction option {', '.join(sorted(options))} "
                              f"(--beam is for seq2seq checkpoints)")
        probs = torch.softmax(model(batch.inputs, batch.lengths).float(), dim=-1).cpu()
        k = max(1, min(int(top_k), probs.shape[1]))
        values, indices = probs.topk(k, dim=-1)
        return [[{"label": labels[int(i)], "probability": float(v)} for v, i in zip(vs, ix)]
                for vs, ix in zip(values, indices)]


@hookimpl
def seqkit_register_tasks(register):
    register("classify", ClassifyTask, help="sequence -> class: cross-entropy, top-k accuracy, macro-F1, confusion")
