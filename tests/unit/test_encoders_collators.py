"""Encoders and collators against the course's encoding and torch's packing."""
from __future__ import annotations

import string

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.utils.rnn import pack_padded_sequence

from seqkit import registry
from seqkit.errors import DataError

ALL_LETTERS = string.ascii_letters + " .,;'"


def course_name_rep(name):  # the course's unbatched encoding
    rep = torch.zeros(len(name), 1, len(ALL_LETTERS))
    for index, letter in enumerate(name):
        rep[index][0][ALL_LETTERS.find(letter)] = 1
    return rep


def course_batched_name_rep(names, max_word_size):
    rep = torch.zeros(max_word_size, len(names), len(ALL_LETTERS))
    for name_index, name in enumerate(names):
        for letter_index, letter in enumerate(name):
            rep[letter_index][name_index][ALL_LETTERS.find(letter)] = 1
    return rep


def onehot_rows(indices, enc):
    """Our one-hot rows without the two reserved columns = the course's columns."""
    return torch.nn.functional.one_hot(indices, enc.size)[..., 2:].float()


def test_onehot_matches_course_encoding(name2lang):
    enc = registry.encoders.create("onehot")
    assert enc.size == 57 + 2 and enc.alphabet == list(ALL_LETTERS)
    for name in name2lang.texts[:3000:7]:
        if all(c in ALL_LETTERS for c in name):
            ours = onehot_rows(torch.tensor(enc.encode(name)), enc)
            assert torch.equal(ours, course_name_rep(name)[:, 0])


def test_onehot_folds_accents_and_marks_unknown():
    enc = registry.encoders.create("onehot")
    assert enc.decode(enc.encode("Müller")) == "Muller"
    assert enc.encode("Ab1")[-1] == enc.unk_index  # the course silently used the last letter here
    raw = registry.encoders.create("onehot", fold=False)
    assert raw.encode("ü") == [raw.unk_index]


def test_index_encoder_learns_training_alphabet(name2lang):
    enc = registry.encoders.create("index").fit(name2lang.texts[:5000])
    assert enc.alphabet == sorted(set("".join(name2lang.texts[:5000])))
    assert enc.size == len(enc.alphabet) + 2
    assert enc.encode("\u4e2d") == [enc.unk_index]
    state = enc.state_dict()
    again = registry.encoders.create("index").load_state_dict(state)
    assert again.encode("Smith") == enc.encode("Smith")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=20))
def test_index_encoder_roundtrips_any_unicode(texts):
    enc = registry.encoders.create("index").fit(texts)
    for t in texts:
        ids = enc.encode(t)
        assert len(ids) == len(t) and min(ids) >= 2 and max(ids) < enc.size
        assert enc.decode(ids) == t


def _items(name2lang, n=97, start=123):
    return [name2lang[i] for i in range(start, start + 50 * n, 50)]


def test_pack_collator_equals_course_batching(name2lang):
    enc = registry.encoders.create("onehot", fold=False)
    items = [(t, l) for t, l in _items(name2lang) if all(c in ALL_LETTERS for c in t)]
    names = [t for t, _ in items]
    col = registry.collators.create("pack", enc, labels=name2lang.labels)
    batch = col(items)
    lengths = [len(n) for n in names]
    ref = pack_padded_sequence(course_batched_name_rep(names, max(lengths)), lengths, enforce_sorted=False)
    assert torch.equal(onehot_rows(batch.inputs.data, enc), ref.data)
    assert torch.equal(batch.inputs.batch_sizes, ref.batch_sizes)
    assert torch.equal(batch.inputs.sorted_indices, ref.sorted_indices)
    assert torch.equal(batch.inputs.unsorted_indices, ref.unsorted_indices)
    assert batch.lengths.tolist() == lengths and batch.lengths.dtype == torch.long
    assert batch.targets.tolist() == [name2lang.labels.index(l) for _, l in items]  # caller order


def test_pad_collator_pads_with_pad_index_and_keeps_order(name2lang):
    enc = registry.encoders.create("index").fit(name2lang.texts)
    items = _items(name2lang)
    batch = registry.collators.create("pad", enc, labels=name2lang.labels)(items)
    T, B = batch.inputs.shape
    assert B == len(items) and T == max(len(t) for t, _ in items)
    for b, (text, label) in enumerate(items):
        col = batch.inputs[:, b]
        assert col[:len(text)].tolist() == enc.encode(text)
        assert (col[len(text):] == enc.pad_index).all()
        assert batch.targets[b] == name2lang.labels.index(label)
    bf = registry.collators.create("pad", enc, labels=name2lang.labels, batch_first=True)(items)
    assert torch.equal(bf.inputs, batch.inputs.t())


def test_collators_reject_empty_texts_and_unknown_labels(name2lang):
    enc = registry.encoders.create("index").fit(["ab"])
    col = registry.collators.create("pack", enc, labels=["x"])
    with pytest.raises(DataError, match="batch item 1 \\(''\\) encodes to zero symbols"):
        col([("ab", "x"), ("", "x")])
    with pytest.raises(DataError, match="label 'y' that the collator does not know"):
        col([("ab", "y")])
    assert col([("ab", None)]).targets is None
    assert col([("ab", 0)]).targets.tolist() == [0]
