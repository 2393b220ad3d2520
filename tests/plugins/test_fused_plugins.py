"""The fused-pack collator and fused-gru cell plugins agree with pack and torch.nn.GRU."""
from __future__ import annotations

import os
from dataclasses import replace

import pytest
import torch
from torch.nn.utils.rnn import pad_packed_sequence

from seqkit import ops, registry
from seqkit.engine import RunConfig, TaskContext
from seqkit.errors import DataError


@pytest.fixture(scope="module")
def items(name2lang):
    return [name2lang[i] for i in range(5, 20074, 157)]


@pytest.mark.parametrize("encoder", ["index", "onehot"])
def test_fused_pack_equals_pack(name2lang, items, encoder):
    enc = registry.encoders.create(encoder).fit(name2lang.texts)
    ref = registry.collators.create("pack", enc, labels=name2lang.labels)(items)
    got = registry.collators.create("fused-pack", enc, labels=name2lang.labels)(items)
    assert torch.equal(got.lengths, ref.lengths) and got.lengths.dtype == torch.long
    assert torch.equal(got.targets, ref.targets)
    assert torch.equal(got.inputs.batch_sizes, ref.inputs.batch_sizes)
    a, la = pad_packed_sequence(got.inputs, padding_value=-1)  # caller order
    b, lb = pad_packed_sequence(ref.inputs, padding_value=-1)
    assert torch.equal(a, b) and torch.equal(la, lb)


def test_fused_pack_rejects_empty_text_with_its_index(name2lang):
    enc = registry.encoders.create("index").fit(name2lang.texts)
    col = registry.collators.create("fused-pack", enc, labels=name2lang.labels)
    with pytest.raises(DataError, match="fused-pack: .*\\b1\\b"):
        col([("Smith", "English"), ("", "English")])


@pytest.mark.parametrize("bidirectional", [False, True])
def test_fused_gru_classifier_equals_gru_classifier(name2lang, items, bidirectional):
    """One-hot input: fused-gru gathers W_ih columns from indices, gru multiplies one-hot rows."""
    enc = registry.encoders.create("onehot")
    task = registry.tasks.create("classify")
    cfg = RunConfig(hidden_size=16, bidirectional=bidirectional, head_dropout=0.0)
    models = {}
    for cell in ("gru", "fused-gru"):
        ctx = TaskContext.from_config(replace(cfg, cell=cell), encoder=enc)
        task.setup(name2lang, ctx)
        torch.manual_seed(0)
        models[cell] = task.build_model(ctx)
    models["fused-gru"].load_state_dict(models["gru"].state_dict())
    assert models["fused-gru"].input_layer.pass_indices and not models["gru"].input_layer.pass_indices
    batch = registry.collators.create("fused-pack", enc, labels=name2lang.labels)(items)
    outs = {}
    for cell, model in models.items():
        logits = model(batch.inputs, batch.lengths)
        torch.nn.functional.cross_entropy(logits, batch.targets).backward()
        outs[cell] = (logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters()})
    assert torch.allclose(outs["gru"][0], outs["fused-gru"][0], atol=1e-5)
    for name, grad in outs["gru"][1].items():
        assert torch.allclose(grad, outs["fused-gru"][1][name], atol=1e-5), name


def test_backend_is_reported():
    assert ops.backend() in {"cpp", "reference", "cuda"}


@pytest.mark.skipif(os.environ.get("SEQKIT_REQUIRE_EXTENSION", "") in ("", "0"),
                    reason="set SEQKIT_REQUIRE_EXTENSION=1 (CI does) to require the compiled ops")
def test_compiled_extension_is_used_where_required():
    """In CI the C++ ops must have been built: a skipped ops test must not hide a broken build."""
    assert ops.backend() == "cpp", ops.backend_reason()


def _same_batch(a, b):
    for f in ("data", "batch_sizes", "sorted_indices", "unsorted_indices"):
        assert torch.equal(getattr(a.inputs, f), getattr(b.inputs, f)), f
    assert torch.equal(a.lengths, b.lengths) and torch.equal(a.targets, b.targets)


@pytest.mark.parametrize("encoder", ["index", "onehot"])
def test_fused_pack_from_the_corpus_buffer_equals_the_string_path(name2lang, encoder):
    """DataLoader batches of a corpus-backed dataset are packed straight from its symbol
    buffer (no string per name); the batch must be the one the strings give."""
    enc = registry.encoders.create(encoder).fit(name2lang.texts)
    col = registry.collators.create("fused-pack", enc, labels=name2lang.labels)
    ref = registry.collators.create("pack", enc, labels=name2lang.labels)
    for start in range(0, 3):
        idx = list(range(start, len(name2lang), 79))[:256]
        items = name2lang.__getitems__(idx)
        assert hasattr(items, "corpus")
        fast = col(items)
        assert col._maps[id(items.corpus)] is not None, "the fast path must apply to name2lang"
        _same_batch(fast, col(list(items)))
        a, _ = pad_packed_sequence(fast.inputs, padding_value=-1)
        b, _ = pad_packed_sequence(ref(list(items)).inputs, padding_value=-1)
        assert torch.equal(a, b)


def test_fused_pack_falls_back_when_folding_changes_lengths():
    """'e' + combining acute folds to one letter: the corpus path cannot map characters
    one to one and the string path must give the (correct) batch."""
    from seqkit.data import PairDataset

    ds = PairDataset(["Jose\u0301", "Ana", "Stra\u00dfe"], ["es", "es", "de"])
    enc = registry.encoders.create("onehot").fit(ds.texts)
    col = registry.collators.create("fused-pack", enc, labels=ds.labels)
    items = ds.__getitems__([0, 1, 2])
    got = col(items)
    assert col._maps[id(items.corpus)] is None
    _same_batch(got, col([ds[i] for i in range(3)]))
    assert got.lengths.tolist() == [len(enc.encode(t)) for t in ds.texts]
