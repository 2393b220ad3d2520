"""Stratified splits (against scikit-learn) and length-bucketed batches."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.model_selection import train_test_split

from seqkit.data import PairDataset
from seqkit.errors import DataError
from seqkit.data.sampling import BucketBatchSampler, class_weights, padding_waste
from seqkit.data.splits import split_dataset


def test_default_split_is_the_course_split(name2lang):
    split = split_dataset(name2lang)
    assert (split.report["train"], split.report["test"]) == (16059, 4015)
    x_tr, x_te, y_tr, y_te = train_test_split(name2lang.texts, name2lang.targets, test_size=0.2, random_state=0,
                                              stratify=name2lang.targets)
    assert [name2lang.texts[i] for i in split.train] == x_tr
    assert [name2lang.targets[i] for i in split.test] == y_te
    overlap = split.report["test_overlap_fraction"]
    assert 0.15 < overlap < 0.17  # the data README: 15.7% of test names are training names


def test_dedup_keeps_each_text_on_one_side(name2lang):
    split = split_dataset(name2lang, dedup=True)
    train = {name2lang.texts[i] for i in split.train}
    test = {name2lang.texts[i] for i in split.test}
    assert not train & test
    pairs = [(name2lang.texts[i], name2lang.targets[i]) for i in np.concatenate([split.train, split.test])]
    assert len(pairs) == len(set(pairs)) == 18015
    assert split.report["duplicates_dropped"] == 20074 - 18015
    assert split.report["test_texts_seen_in_train"] == 0
    frac = len(split.test) / (len(split.train) + len(split.test))
    assert 0.18 < frac < 0.22


def test_single_example_label_cannot_be_stratified():
    ds = PairDataset(["a", "b", "c", "d", "e"], ["x", "x", "x", "x", "lonely"])
    with pytest.raises(DataError, match="label\\(s\\) 'lonely' have only one example"):
        split_dataset(ds)


def test_bucketing_cuts_padding_and_covers_every_index_once(name2lang):
    lengths = name2lang.lengths()
    random = BucketBatchSampler(lengths, 128, bucket=False, seed=1)
    bucketed = BucketBatchSampler(lengths, 128, bucket=True, seed=1)
    w_random = padding_waste(random.batches(), lengths)
    w_bucket = padding_waste(bucketed.batches(), lengths)
    assert 0.40 < w_random < 0.60  # GUIDE: about 48% on name2lang
    assert w_bucket < 0.05
    flat = sorted(i for b in bucketed.batches() for i in b)
    assert flat == list(range(len(lengths)))
    assert len(bucketed) == len(bucketed.batches())


def test_sampler_is_deterministic_per_epoch():
    s = BucketBatchSampler(np.arange(1, 1001) % 13 + 1, 32, seed=3)
    s.set_epoch(1)
    a = s.batches()
    s.set_epoch(2)
    b = s.batches()
    s.set_epoch(1)
    assert s.batches() == a and a != b


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 30), min_size=1, max_size=300), st.integers(1, 40), st.booleans(), st.booleans())
def test_sampler_property_partition(lengths, bs, bucket, shuffle):
    s = BucketBatchSampler(lengths, bs, bucket=bucket, shuffle=shuffle)
    batches = s.batches()
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(1 <= len(b) <= bs for b in batches)


def test_weighted_sampling_balances_classes():
    y = np.array([0] * 900 + [1] * 100)
    w = class_weights(y, 2)[y]
    s = BucketBatchSampler(np.ones(1000, dtype=int), 100, weights=w, seed=0)
    drawn = np.concatenate([np.array(b) for b in s.batches()])
    assert len(drawn) == 1000
    frac_minority = np.mean(y[drawn] == 1)
    assert 0.42 < frac_minority < 0.58
