"""Datasets of ``(text, label)`` pairs and strict, well-reported file reading.

Readers never drop data silently: a bad line is an error naming the file, the line and
the reason, unless ``on_bad_line="skip"``, in which case the skipped lines are counted
and reported (``dataset.skipped`` and one warning).
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np
from torch.utils.data import Dataset

from .errors import ConfigError, DataError

ON_BAD_LINE = ("error", "skip")


class PairDataset(Dataset):
    """A ``torch.utils.data.Dataset`` of ``(text, label)`` pairs.

    ``labels`` is the sorted list of class names; a subset keeps its parent's list so
    class indices mean the same thing in every split.
    """

    def __init__(self, texts: Sequence[str], targets: Sequence[str], *, labels: Sequence[str] | None = None,
                 source: str = "", skipped: "SkipReport | None" = None):
        if len(texts) != len(targets):
            raise ValueError(f"{len(texts)} texts but {len(targets)} labels")
        self.texts = list(texts)
        self.targets = list(targets)
        self.labels = sorted(set(self.targets)) if labels is None else list(labels)
        self.source = source
        self.skipped = skipped or SkipReport()
        self._label_index = {name: i for i, name in enumerate(self.labels)}

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, i: int) -> tuple[str, str]:
        return self.texts[i], self.targets[i]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(zip(self.texts, self.targets))

    def label_indices(self) -> np.ndarray:
        """The class index of every item (int64)."""
        return np.fromiter((self._label_index[t] for t in self.targets), dtype=np.int64, count=len(self))

    def lengths(self) -> np.ndarray:
        return np.fromiter((len(t) for t in self.texts), dtype=np.int64, count=len(self))

    def counts(self) -> dict[str, int]:
        out = {name: 0 for name in self.labels}
        for t in self.targets:
            out[t] += 1
        return out

    def subset(self, indices: Sequence[int]) -> "PairDataset":
        return PairDataset([self.texts[i] for i in indices], [self.targets[i] for i in indices],
                           labels=self.labels, source=self.source)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} pairs, {len(self.labels)} labels, source={self.source!r})"


@dataclass
class SkipReport:
    """Lines skipped with ``on_bad_line="skip"``: how many, and the first few places."""

    count: int = 0
    examples: list[str] = field(default_factory=list)
    limit: int = 5

    def add(self, where: str, reason: str) -> None:
        self.count += 1
        if len(self.examples) < self.limit:
            self.examples.append(f"{where}: {reason}")

    def merge(self, other: "SkipReport") -> None:
        for ex in other.examples:
            if len(self.examples) < self.limit:
                self.examples.append(ex)
        self.count += other.count

    def __str__(self) -> str:
        more = ", ..." if self.count > len(self.examples) else ""
        return f"skipped {self.count} bad line(s): {'; '.join(self.examples)}{more}"

    def warn(self) -> None:
        if self.count:
            warnings.warn(str(self), stacklevel=3)


def check_on_bad_line(value: str) -> str:
    if value not in ON_BAD_LINE:
        raise ConfigError(f"on_bad_line must be one of {', '.join(ON_BAD_LINE)}, got {value!r}")
    return value


def read_text(path: str) -> str:
    """Read a UTF-8 file (BOM allowed); invalid UTF-8 is an error naming the byte offset."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file; pass an existing file with --data") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, a file was expected") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror}); check permissions") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bom = 3 if raw.startswith(b"\xef\xbb\xbf") else 0
        offset = exc.start + bom
        line = raw.count(b"\n", 0, offset) + 1
        raise DataError(f"{path}: invalid UTF-8 at byte offset {offset} (line {line}); "
                        f"re-save the file as UTF-8") from None
    return text


def iter_lines(text: str) -> Iterator[tuple[int, str]]:
    """``(line_number, line)`` with LF, CRLF or CR line ends removed; numbering from 1."""
    for number, line in enumerate(text.splitlines(), start=1):
        yield number, line


def clean_text(value: str) -> str:
    """Strip surrounding whitespace (including no-break spaces)."""
    return value.strip()


def require_nonempty(path: str, n: int, what: str = "records") -> None:
    if n == 0:
        raise DataError(f"{path}: contains no {what}; check that --data points at the right file")


def expand(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))
