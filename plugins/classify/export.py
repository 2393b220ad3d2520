"""classify's exported graph: padded symbol indices and lengths -> class probabilities.

The trained :class:`~seqkit_plugins.classify.model.SequenceClassifier` in a form that
exports (ONNX, TorchScript, ``torch.export``): the input layer as an embedding (one-hot
input is the identity matrix's rows), the cell in its padded, length-masked form
(:func:`seqkit.nn.padded.exportable_cell`, the same weights), the head, and a softmax.
"""
from __future__ import annotations

import torch
from torch import nn

from seqkit.nn.padded import exportable_cell


class ClassifierGraph(nn.Module):
    """``forward(indices [B, T] int64, lengths [B] int64) -> probabilities [B, classes]``."""

    def __init__(self, model):
        super().__init__()
        layer = model.input_layer
        if layer.one_hot:  # one-hot rows (or the indices a gathering cell takes) as an embedding of eye rows
            weight = torch.eye(layer.num_symbols, dtype=model.head.weight.dtype)
        else:
            weight = layer.embedding.weight.detach().clone()
        self.embedding = nn.Embedding.from_pretrained(weight, freeze=True)
        self.cell = exportable_cell(model.cell)
        self.head = nn.Linear(model.head.in_features, model.head.out_features)
        self.head.load_state_dict(model.head.state_dict())

    def forward(self, indices: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        _, last = self.cell(self.embedding(indices), lengths)
        return torch.softmax(self.head(last), dim=-1)
