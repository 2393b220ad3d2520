"""Cells (packed vs padded vs one sequence at a time), the classifier, and metrics vs scikit-learn."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix, f1_score, recall_score, top_k_accuracy_score
from torch.nn.utils.rnn import pack_sequence, pad_sequence

from seqkit import registry
from seqkit_plugins.classify.metrics import classification_metrics, majority_baseline
from seqkit.nn.packed import last_states

CELLS = ["rnn", "lstm", "gru"]


def _seqs(n=9, dim=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 12, (n,), generator=g)
    return [torch.randn(int(L), dim, generator=g) for L in lengths], lengths


def _alone(cell, seqs, bidirectional):
    """The last state of every sequence run on its own (batch of one, no padding)."""
    rows = []
    for s in seqs:
        _, h = cell(s.unsqueeze(1))
        h = h[0] if isinstance(h, tuple) else h
        d = 2 if bidirectional else 1
        rows.append(h[-d:, 0].reshape(-1))
    return torch.stack(rows)


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("layers", [1, 2])
def test_packed_last_states_equal_one_sequence_at_a_time(name, bidirectional, layers):
    torch.manual_seed(0)
    cell = registry.cells.create(name, input_size=5, hidden_size=6, num_layers=layers, bidirectional=bidirectional)
    seqs, lengths = _seqs()
    packed = pack_sequence(seqs, enforce_sorted=False)
    with torch.no_grad():
        got = last_states(cell, packed, lengths, bidirectional=bidirectional)
        assert torch.allclose(got, _alone(cell, seqs, bidirectional), atol=1e-6)
        padded = pad_sequence(seqs)  # padded input: same states (bidirectional is packed inside)
        assert torch.allclose(last_states(cell, padded, lengths, bidirectional=bidirectional), got, atol=1e-6)


@pytest.mark.parametrize("name", CELLS)
def test_h_n_comes_back_in_caller_order(name):
    cell = registry.cells.create(name, input_size=5, hidden_size=4)
    seqs, lengths = _seqs(seed=1)
    with torch.no_grad():
        a = last_states(cell, pack_sequence(seqs, enforce_sorted=False), lengths, bidirectional=False)
        perm = torch.randperm(len(seqs), generator=torch.Generator().manual_seed(5))
        b = last_states(cell, pack_sequence([seqs[i] for i in perm], enforce_sorted=False), lengths[perm],
                        bidirectional=False)
    assert torch.allclose(a[perm], b, atol=1e-6)


def test_cell_dropout_ignored_for_one_layer_and_options_forwarded():
    cell = registry.cells.create("gru", input_size=3, hidden_size=4, num_layers=1, dropout=0.5)
    assert cell.dropout == 0.0
    relu = registry.cells.create("rnn", input_size=3, hidden_size=4, nonlinearity="relu")
    assert relu.nonlinearity == "relu"


def test_classification_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 6, 500)
    y[:3] = 5
    scores = rng.normal(size=(500, 7))  # class 6 never occurs in y
    scores[np.arange(500), y] += rng.normal(1.0, 1.0, 500)
    labels = [f"c{i}" for i in range(7)]
    m = classification_metrics(y, scores, labels)
    for k in (1, 2, 3):
        assert m[f"top{k}"] == pytest.approx(top_k_accuracy_score(y, scores, k=k, labels=range(7)))
    pred = scores.argmax(1)
    assert m["macro_f1"] == pytest.approx(f1_score(y, pred, labels=np.unique(y), average="macro"))
    assert m["confusion"] == confusion_matrix(y, pred, labels=range(7)).tolist()
    recalls = recall_score(y, pred, labels=range(6), average=None)
    assert [m["per_class"][f"c{i}"] for i in range(6)] == pytest.approx(recalls)
    assert m["per_class"]["c6"] is None and m["labels"] == labels


def test_majority_baseline():
    assert majority_baseline([1, 1, 2, 0], [1, 2, 1, 1]) == (1, 0.75)


def test_classifier_gets_same_logits_from_pack_and_pad(name2lang):
    from seqkit.engine import RunConfig, TaskContext

    enc = registry.encoders.create("index").fit(name2lang.texts)
    items = [name2lang[i] for i in range(0, 20074, 401)]
    task = registry.tasks.create("classify")
    for bidirectional in (False, True):
        cfg = RunConfig(hidden_size=8, embedding_dim=4, bidirectional=bidirectional, head_dropout=0.0)
        ctx = TaskContext.from_config(cfg, encoder=enc)
        task.setup(name2lang, ctx)
        torch.manual_seed(0)
        model = task.build_model(ctx).eval()
        packed = registry.collators.create("pack", enc, labels=name2lang.labels)(items)
        padded = registry.collators.create("pad", enc, labels=name2lang.labels)(items)
        with torch.no_grad():
            a = model(packed.inputs, packed.lengths)
            b = model(padded.inputs, padded.lengths)
        assert a.shape == (len(items), 18) and torch.allclose(a, b, atol=1e-5)


def test_input_dropout_only_on_learned_embeddings():
    from seqkit_plugins.classify.model import InputLayer, SequenceClassifier

    cell = registry.cells.create("gru", input_size=9, hidden_size=4)
    onehot = SequenceClassifier(InputLayer(9, one_hot=True), cell, hidden_size=4, bidirectional=False,
                                num_classes=2, input_dropout=0.5)
    assert onehot.input_dropout is None
    emb = SequenceClassifier(InputLayer(9, one_hot=False, embedding_dim=9), cell, hidden_size=4,
                             bidirectional=False, num_classes=2, input_dropout=0.5)
    assert emb.input_dropout is not None and emb.input_dropout.p == 0.5
