"""Train/test splits: stratified (scikit-learn), optionally deduplicated by text.

The default reproduces the course's split: ``train_test_split(X, Y, test_size=0.2,
random_state=0, stratify=Y)``. With ``dedup=True`` exact duplicate ``(text, label)``
pairs are dropped and every distinct text lands on one side only, so no test text was
seen in training (name2lang: 15.7% of the default split's test names are training
names, every Arabic one among them).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import train_test_split

from .data import PairDataset
from .errors import ConfigError, DataError


@dataclass
class Split:
    train: np.ndarray  # indices into the dataset
    test: np.ndarray
    report: dict = field(default_factory=dict)


def _stratified(n: int, strata: list, test_size: float, seed: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    counts = Counter(strata)
    rare = sorted(k for k, c in counts.items() if c < 2)
    if rare:
        shown = ", ".join(repr(r) for r in rare[:5]) + (", ..." if len(rare) > 5 else "")
        raise DataError(f"stratified split impossible: label(s) {shown} have only one {what}; add "
                        f"examples, remove those labels from the data, or use a dataset with at least "
                        f"2 {what}s per label")
    n_test = int(np.ceil(test_size * n)) if isinstance(test_size, float) else int(test_size)
    if n_test < len(counts) or n - n_test < len(counts):
        raise DataError(f"stratified split impossible: {n} {what}s, {len(counts)} labels and test size "
                        f"{test_size} leave fewer {what}s than labels on one side; use more data or "
                        f"change --test-size")
    idx = np.arange(n)
    train, test = train_test_split(idx, test_size=test_size, random_state=seed, stratify=strata)
    return np.asarray(train, dtype=np.int64), np.asarray(test, dtype=np.int64)


def split_dataset(ds: PairDataset, *, test_size: float = 0.2, seed: int = 0, dedup: bool = False) -> Split:
    """Stratified split of ``ds``; see the module docstring. ``report`` has the sizes."""
    if not 0.0 < float(test_size) < 1.0:
        raise ConfigError(f"--test-size must be between 0 and 1 (exclusive), got {test_size}")
    if len(ds) == 0:
        raise DataError(f"{ds.source or 'dataset'}: no examples to split")
    if not dedup:
        train, test = _stratified(len(ds), ds.targets, test_size, seed, "example")
        return Split(train, test, _report(ds, train, test, dedup=False, dropped=0))

    # Keep the first occurrence of each (text, label) pair, then group by text.
    seen: set[tuple[str, str]] = set()
    keep: list[int] = []
    for i, pair in enumerate(zip(ds.texts, ds.targets)):
        if pair not in seen:
            seen.add(pair)
            keep.append(i)
    groups: dict[str, list[int]] = {}
    for i in keep:
        groups.setdefault(ds.texts[i], []).append(i)
    texts = list(groups)
    # A text under several labels is stratified by its rarest label, so that small classes
    # whose names mostly also occur elsewhere (Scottish vs English) still reach both sides.
    freq = Counter(ds.targets[i] for i in keep)
    strata = [min((ds.targets[i] for i in groups[t]), key=lambda lab: (freq[lab], lab)) for t in texts]
    g_train, g_test = _stratified(len(texts), strata, test_size, seed, "distinct text")
    train = np.array(sorted(i for g in g_train for i in groups[texts[g]]), dtype=np.int64)
    test = np.array(sorted(i for g in g_test for i in groups[texts[g]]), dtype=np.int64)
    return Split(train, test, _report(ds, train, test, dedup=True, dropped=len(ds) - len(keep)))


def _report(ds: PairDataset, train: np.ndarray, test: np.ndarray, *, dedup: bool, dropped: int) -> dict:
    train_texts = {ds.texts[i] for i in train}
    overlap = sum(1 for i in test if ds.texts[i] in train_texts)
    return {"train": int(len(train)), "test": int(len(test)), "dedup": dedup,
            "duplicates_dropped": int(dropped), "test_texts_seen_in_train": int(overlap),
            "test_overlap_fraction": overlap / max(1, len(test))}
