"""Datasets of ``(text, label)`` pairs held in a :class:`~seqkit.data.corpus.Corpus`.

:class:`PairDataset` is what the labelled readers (``name2lang``, ``csv``) return and
what the classify task splits and batches; its texts live in flat numpy buffers, and a
batch of its items can be packed straight from them (:class:`CorpusItems`).
"""
from __future__ import annotations

import operator
import re
from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Dataset

from ..errors import DataError
from .corpus import Corpus
from .files import SkipReport, show_path

_SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_surrogates(corpus: Corpus, source: str) -> None:
    """A DataError when a text or a label holds a lone surrogate (U+D800-U+DFFF): not a
    Unicode character, but what bytes that are not UTF-8 become with
    ``errors="surrogateescape"``; such a text must not reach a model. A corpus built in
    Python may hold them (:class:`Corpus` round-trips any str); a dataset may not. The
    check reads the symbol table (one entry per distinct character), not the texts."""
    bad = np.flatnonzero((corpus.chars >= 0xD800) & (corpus.chars <= 0xDFFF))
    where = show_path(source) if source else "dataset"
    if len(bad):
        pos = int(np.flatnonzero(np.isin(corpus.symbols, bad))[0])
        row = int(np.searchsorted(corpus.offsets, pos, side="right")) - 1
        raise DataError(f"{where}: text {row} {corpus.text(row)!r:.60} holds a lone surrogate "
                        f"(U+{int(corpus.chars[corpus.symbols[pos]]):04X}), not a Unicode character; decode the "
                        f"data strictly as UTF-8")
    for label in corpus.labels:
        if _SURROGATE.search(label):
            raise DataError(f"{where}: label {label!r:.60} holds a lone surrogate "
                            f"(U+{ord(_SURROGATE.search(label).group()):04X}), not a Unicode character; decode the "
                            f"data strictly as UTF-8")


class CorpusItems(Sequence):
    """The ``(text, label)`` items of a batch, decoded on first access, plus where they
    live: ``corpus`` and its ``rows``, so that a collator can pack straight from the symbol
    buffer (``fused-pack`` does) without building a string per name."""

    def __init__(self, corpus, rows: np.ndarray):
        self.corpus, self.rows = corpus, rows
        self._items: list[tuple[str, str]] | None = None

    def _decoded(self) -> list[tuple[str, str]]:
        if self._items is None:
            names = self.corpus.labels
            self._items = list(zip(self.corpus.texts(self.rows),
                                   [names[c] for c in self.corpus.codes[self.rows].tolist()]))
        return self._items

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):
        return self._decoded()[i]

    def __iter__(self):
        return iter(self._decoded())

    def __eq__(self, other) -> bool:
        return list(self) == list(other)

    def __repr__(self) -> str:
        return f"CorpusItems({self._decoded()!r})"


class PairDataset(Dataset):
    """A ``torch.utils.data.Dataset`` of ``(text, label)`` pairs, held as a :class:`Corpus`.

    The texts live in flat numpy buffers (:mod:`seqkit.data.corpus`: at most 2 bytes per
    character + 10 bytes per text), not as Python strings; ``texts`` and ``targets`` are
    read-only sequence views that decode on access. ``labels`` is the sorted list of class
    names; a subset shares its parent's corpus (it holds an index array) and keeps its
    parent's label list, so class indices mean the same thing in every split.

    Build one from sequences (``PairDataset(texts, targets)``) or from a corpus
    (:meth:`from_corpus`, what the built-in readers do while streaming a file).
    """

    def __init__(self, texts: Sequence[str], targets: Sequence[str], *, labels: Sequence[str] | None = None,
                 source: str = "", skipped: SkipReport | None = None):
        if len(texts) != len(targets):
            raise ValueError(f"{len(texts)} texts but {len(targets)} labels")
        try:
            corpus = Corpus.from_texts(texts, targets)
        except TypeError as exc:
            raise DataError(f"{source or 'dataset'}: {exc}; a dataset yields (str text, str label) pairs") from None
        self._setup(corpus, None, labels, source, skipped)

    @classmethod
    def from_corpus(cls, corpus: Corpus, rows: np.ndarray | None = None, *, labels: Sequence[str] | None = None,
                    source: str = "", skipped: SkipReport | None = None) -> PairDataset:
        """The texts ``rows`` (all when ``None``) of ``corpus``; no copy of the buffers."""
        self = cls.__new__(cls)
        self._setup(corpus, None if rows is None else np.asarray(rows, dtype=np.int64), labels, source, skipped)
        return self

    def _setup(self, corpus: Corpus, rows: np.ndarray | None, labels, source: str, skipped) -> None:
        if rows is None:  # a subset's corpus was checked when its parent was made
            _refuse_surrogates(corpus, source)
        self.corpus, self.rows = corpus, rows
        self.source = source
        self.skipped = skipped or SkipReport()
        if labels is None:  # the labels that occur here, sorted (corpus labels are sorted)
            present = np.unique(self._take(corpus.codes)) if rows is not None else range(len(corpus.labels))
            labels = [corpus.labels[int(c)] for c in present]
        self.labels = labels

    # -- the label list and how corpus label codes map onto it
    @property
    def labels(self) -> list[str]:
        return self._labels

    @labels.setter
    def labels(self, value: Sequence[str]) -> None:
        self._labels = list(value)
        self._label_index = {name: i for i, name in enumerate(self._labels)}
        self._code_map = np.array([self._label_index.get(name, -1) for name in self.corpus.labels] or [-1],
                                  dtype=np.int64)

    def _take(self, arr: np.ndarray) -> np.ndarray:
        return arr if self.rows is None else arr[self.rows]

    def _row(self, i: int) -> int:
        n = len(self)
        i = operator.index(i)
        if not -n <= i < n:
            raise IndexError(f"index {i} is out of range for a dataset of {n} pairs")
        i %= n
        return i if self.rows is None else int(self.rows[i])

    def _all_rows(self) -> np.ndarray:
        return np.arange(len(self.corpus), dtype=np.int64) if self.rows is None else self.rows

    # -- the Dataset interface
    def __len__(self) -> int:
        return len(self.corpus) if self.rows is None else len(self.rows)

    def __getitem__(self, i: int) -> tuple[str, str]:
        r = self._row(i)
        return self.corpus.text(r), self.corpus.labels[self.corpus.codes[r]]

    def __getitems__(self, indices: Sequence[int]) -> Sequence[tuple[str, str]]:
        """A batch of items decoded in one pass (``DataLoader`` calls this with a batch's indices)."""
        if type(self).__getitem__ is not PairDataset.__getitem__:  # a subclass redefines items
            return [self[i] for i in indices]
        return CorpusItems(self.corpus, self._all_rows()[np.asarray(indices, dtype=np.int64)])

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(zip(self.texts, self.targets))

    @property
    def texts(self) -> TextView:
        """Read-only sequence of the texts (decoded on access; slices give lists)."""
        return TextView(self.corpus, self.rows)

    @property
    def targets(self) -> LabelView:
        """Read-only sequence of the label of every item (str)."""
        return LabelView(self.corpus, self.rows)

    def label_indices(self) -> np.ndarray:
        """The class index of every item in ``labels`` (int64)."""
        y = self._code_map[self._take(self.corpus.codes)]
        if len(y) and int(y.min()) < 0:
            bad = int(np.flatnonzero(y < 0)[0])
            raise DataError(f"{self.source or 'dataset'}: item {bad} has label {self.targets[bad]!r}, which is not "
                            f"in the dataset's labels ({', '.join(self.labels)}); add it to labels")
        return y

    def text_hashes(self) -> np.ndarray:
        """A 64-bit hash of every text (uint64; equal texts, equal hashes): compare texts
        without building Python strings."""
        return self.corpus.hashes(self._all_rows())

    def lengths(self) -> np.ndarray:
        """Length in characters of every text (int64)."""
        return self.corpus.lengths(self.rows)

    def counts(self) -> dict[str, int]:
        per_code = np.bincount(self._take(self.corpus.codes), minlength=len(self.corpus.labels))
        out = {name: 0 for name in self.labels}
        for name, c in zip(self.corpus.labels, per_code.tolist()):
            if c or name in out:
                out[name] = c
        return out

    def subset(self, indices: Sequence[int]) -> PairDataset:
        """The items ``indices`` (any order, repeats allowed), sharing this dataset's corpus."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if len(idx) and (int(idx.min()) < -len(self) or int(idx.max()) >= len(self)):
            raise IndexError(f"subset indices must be in [0, {len(self)}), got {int(idx.min())}..{int(idx.max())}")
        return PairDataset.from_corpus(self.corpus, self._all_rows()[idx], labels=self.labels, source=self.source)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} pairs, {len(self.labels)} labels, source={self.source!r})"


class _RowView(Sequence):
    """Read-only sequence over the rows of a corpus; slices give lists."""

    __hash__ = None  # type: ignore[assignment]

    def __init__(self, corpus: Corpus, rows: np.ndarray | None):
        self.corpus, self.rows = corpus, rows

    def __len__(self) -> int:
        return len(self.corpus) if self.rows is None else len(self.rows)

    def _rows(self, key) -> np.ndarray:
        if self.rows is None:
            return np.arange(len(self.corpus), dtype=np.int64)[key]
        return self.rows[key]

    def __getitem__(self, key):
        if isinstance(key, slice):
            return self._many(self._rows(key))
        n = len(self)
        i = operator.index(key)
        if not -n <= i < n:
            raise IndexError(f"index {i} is out of range for {n} items")
        return self._one(int(self._rows(i % n)))

    def __iter__(self):
        step = 1 << 16
        for start in range(0, len(self), step):
            yield from self._many(self._rows(slice(start, start + step)))

    def __eq__(self, other) -> bool:
        if not isinstance(other, (Sequence, np.ndarray)) or isinstance(other, str):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    def __repr__(self) -> str:
        head = self[:5]
        return f"{type(self).__name__}({len(self)} items: {head!r}{' ...' if len(self) > 5 else ''})"


class TextView(_RowView):
    """The texts of a :class:`PairDataset`, decoded from its corpus on access."""

    def _one(self, r: int) -> str:
        return self.corpus.text(r)

    def _many(self, rows: np.ndarray) -> list[str]:
        return self.corpus.texts(rows)


class LabelView(_RowView):
    """The label (str) of every item of a :class:`PairDataset`."""

    def _one(self, r: int) -> str:
        return self.corpus.labels[self.corpus.codes[r]]

    def _many(self, rows: np.ndarray) -> list[str]:
        names = self.corpus.labels
        return [names[c] for c in self.corpus.codes[rows].tolist()]
