"""Train/test splits: stratified (scikit-learn), optionally deduplicated by text.

The default reproduces the course's split: ``train_test_split(X, Y, test_size=0.2,
random_state=0, stratify=Y)``. With ``dedup=True`` exact duplicate ``(text, label)``
pairs are dropped and every distinct text lands on one side only, so no test text was
seen in training (name2lang: 15.7% of the default split's test names are training
names, every Arabic one among them).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import train_test_split

from .dataset import PairDataset
from ..errors import ConfigError, DataError


@dataclass
class Split:
    train: np.ndarray  # indices into the dataset
    test: np.ndarray
    report: dict = field(default_factory=dict)


def _shown(names: list[str]) -> str:
    return ", ".join(repr(r) for r in names[:5]) + (f", ... ({len(names)} in all)" if len(names) > 5 else "")


def _stratified(y: np.ndarray, names: list[str], test_size: float, seed: int, what: str
                ) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split of ``len(y)`` items; ``y`` holds int class codes into ``names`` (sorted,
    so the split is the one scikit-learn makes with the label strings)."""
    n = len(y)
    counts = np.bincount(y, minlength=len(names))
    rare = [names[k] for k in np.flatnonzero(counts == 1)]
    if rare:
        raise DataError(f"stratified split impossible: label(s) {_shown(rare)} have only one {what}; each label "
                        f"needs one {what} in train and one in test: add {what}s for them, or drop those labels "
                        f"from the data")
    n_labels = int((counts > 0).sum())
    n_test = int(np.ceil(test_size * n)) if isinstance(test_size, float) else int(test_size)
    if n_test < n_labels or n - n_test < n_labels:
        raise DataError(f"stratified split impossible: {n} {what}s, {n_labels} labels and --test-size "
                        f"{test_size} leave fewer {what}s than labels on one side; use more data or "
                        f"change --test-size")
    try:
        train, test = train_test_split(np.arange(n), test_size=test_size, random_state=seed, stratify=y)
    except ValueError as exc:
        raise DataError(f"stratified split impossible ({exc}); add data or change --test-size") from None
    train, test = np.asarray(train, dtype=np.int64), np.asarray(test, dtype=np.int64)
    only_test = np.flatnonzero((np.bincount(y[train], minlength=len(names)) == 0) & (counts > 0))
    if len(only_test):
        few = [names[k] for k in only_test]
        raise DataError(f"stratified split impossible: label(s) {_shown(few)} would occur only in the test split "
                        f"(--test-size {test_size}); lower --test-size, add {what}s for them, or drop those labels")
    return train, test


def _codes(ds: PairDataset) -> tuple[np.ndarray, list[str]]:
    """Class codes of ``ds`` relative to its labels in sorted order, and that sorted list."""
    y = ds.label_indices()
    order = np.argsort(np.array(ds.labels, dtype=object), kind="stable") if ds.labels else np.zeros(0, np.int64)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[y] if len(y) else y, [ds.labels[k] for k in order]


def split_dataset(ds: PairDataset, *, test_size: float = 0.2, seed: int = 0, dedup: bool = False) -> Split:
    """Stratified split of ``ds``; see the module docstring. ``report`` has the sizes."""
    if not 0.0 < float(test_size) < 1.0:
        raise ConfigError(f"--test-size must be between 0 and 1 (exclusive), got {test_size}")
    if len(ds) == 0:
        raise DataError(f"{ds.source or 'dataset'}: no examples to split")
    y, names = _codes(ds)
    if not dedup:
        train, test = _stratified(y, names, test_size, seed, "example")
        return Split(train, test, _report(ds, train, test, dedup=False, dropped=0))

    # Keep the first occurrence of each (text, label) pair, then group by text.
    seen: set[tuple[str, int]] = set()
    keep: list[int] = []
    for i, pair in enumerate(zip(ds.texts, y.tolist())):
        if pair not in seen:
            seen.add(pair)
            keep.append(i)
    del seen
    groups: dict[str, list[int]] = {}
    for i, text in zip(keep, ds.subset(keep).texts):
        groups.setdefault(text, []).append(i)
    # A text under several labels is stratified by its rarest label, so that small classes
    # whose names mostly also occur elsewhere (Scottish vs English) still reach both sides.
    freq = np.bincount(y[keep], minlength=len(names))
    strata = np.array([min((int(y[i]) for i in g), key=lambda c: (freq[c], c)) for g in groups.values()],
                      dtype=np.int64)
    members = list(groups.values())
    del groups
    g_train, g_test = _stratified(strata, names, test_size, seed, "distinct text")
    train = np.array(sorted(i for g in g_train for i in members[g]), dtype=np.int64)
    test = np.array(sorted(i for g in g_test for i in members[g]), dtype=np.int64)
    return Split(train, test, _report(ds, train, test, dedup=True, dropped=len(ds) - len(keep)))


def _report(ds: PairDataset, train: np.ndarray, test: np.ndarray, *, dedup: bool, dropped: int) -> dict:
    # Texts compared by a 64-bit hash of their symbols: vectorised, no Python string per item
    # (a false match needs a hash collision, probability about 2**-64 per pair).
    h = ds.text_hashes()
    overlap = int(np.isin(h[test], h[train]).sum())
    return {"train": len(train), "test": len(test), "dedup": dedup,
            "duplicates_dropped": int(dropped), "test_texts_seen_in_train": overlap,
            "test_overlap_fraction": overlap / max(1, len(test))}
