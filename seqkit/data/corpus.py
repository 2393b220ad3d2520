"""A corpus of labelled texts held as flat numpy buffers instead of Python strings.

Layout (for ``n`` texts with ``c`` characters in all)::

    symbols  uint8/uint16/uint32 [c]     per-corpus symbol of every character, texts back to back
    offsets  int64 [n + 1]                text i is symbols[offsets[i]:offsets[i + 1]]
    codes    int16 (int32) [n]            label of text i, an index into ``labels``
    chars    uint32 [distinct characters] code point of each symbol (the symbol table)
    labels   list[str]                    the distinct labels, sorted

The symbol dtype is the narrowest that holds the table: one byte per character while the
corpus uses at most 256 distinct characters (name2lang: 87), two bytes up to 65,536. So a
loaded corpus takes at most 2 bytes per character + 10 bytes per text (+ the tables),
where a list of Python strings takes about 50 bytes per short text plus 1-4 per
character. :class:`CorpusBuilder` builds it incrementally (the readers stream files into
it chunk by chunk); :meth:`Corpus.texts` decodes any rows back to ``str`` in one
vectorised pass.
"""
from __future__ import annotations

import ctypes
from collections.abc import Iterable, Sequence

import numpy as np

_MAX_CODE_POINT = 0x110000


def _narrowest(n_values: int) -> np.dtype:
    for dt in (np.uint8, np.uint16, np.uint32):
        if n_values <= np.iinfo(dt).max + 1:
            return np.dtype(dt)
    raise OverflowError(n_values)  # pragma: no cover - more symbols than code points


def _code_dtype(n_labels: int) -> np.dtype:
    return np.dtype(np.int16) if n_labels <= np.iinfo(np.int16).max + 1 else np.dtype(np.int32)


def _code_points(text: str) -> np.ndarray:
    # surrogatepass: a str built in Python may hold lone surrogates; they round-trip
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _gather_index(starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Flat buffer positions of the rows ``[starts[k], starts[k] + lens[k])``, back to back."""
    total = int(lens.sum())
    first = np.cumsum(lens) - lens  # where each row starts in the output
    return np.arange(total, dtype=np.int64) + np.repeat(starts - first, lens)


class Corpus:
    """Texts and their labels in flat buffers; see the module docstring.

    Build one with :class:`CorpusBuilder` (streaming) or :meth:`from_texts`. Read-only
    after construction; datasets share one corpus and select rows with index arrays.
    """

    def __init__(self, symbols: np.ndarray, offsets: np.ndarray, chars: np.ndarray, codes: np.ndarray,
                 labels: Sequence[str]):
        if offsets.ndim != 1 or len(offsets) != len(codes) + 1:
            raise ValueError(f"offsets needs {len(codes) + 1} entries, has {len(offsets)}")
        self.symbols, self.offsets, self.chars, self.codes = symbols, offsets, chars, codes
        self.labels = list(labels)
        for arr in (symbols, offsets, chars, codes):
            arr.flags.writeable = False

    @classmethod
    def from_texts(cls, texts: Iterable[str], targets: Iterable[str]) -> Corpus:
        builder = CorpusBuilder()
        builder.extend(list(texts), list(targets))
        return builder.finish()

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def nbytes(self) -> int:
        """Bytes held by the buffers (symbols, offsets, codes, symbol table)."""
        return int(self.symbols.nbytes + self.offsets.nbytes + self.codes.nbytes + self.chars.nbytes)

    @property
    def num_chars(self) -> int:
        return int(self.offsets[-1])

    def lengths(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Length in characters of every text (or of ``rows``), int64."""
        if rows is None:
            return np.diff(self.offsets)
        return self.offsets[rows + 1] - self.offsets[rows]

    def text(self, i: int) -> str:
        a, b = self.offsets[i], self.offsets[i + 1]
        return self.chars[self.symbols[a:b]].tobytes().decode("utf-32-le", "surrogatepass")

    def texts(self, rows: np.ndarray) -> list[str]:
        """The texts of ``rows`` (int64 array), decoded in one pass."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            return []
        starts = self.offsets[rows]
        lens = self.offsets[rows + 1] - starts
        joined = self.chars[self.symbols[_gather_index(starts, lens)]].tobytes().decode("utf-32-le", "surrogatepass")
        bounds = np.concatenate(([0], np.cumsum(lens))).tolist()
        return [joined[a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    def hashes(self, rows: np.ndarray | None = None, chunk: int = 1 << 18) -> np.ndarray:
        """A 64-bit hash of every text (or of ``rows``): equal texts, equal hashes; distinct
        texts collide with probability about 2**-64 per pair."""
        rows = np.arange(len(self), dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
        out = np.empty(len(rows), dtype=np.uint64)
        lens_all = self.lengths(rows)
        powers = np.cumprod(np.full(max(1, int(lens_all.max(initial=0))), 0x100000001B3, dtype=np.uint64))
        with np.errstate(over="ignore"):
            for k in range(0, len(rows), chunk):
                r, lens = rows[k:k + chunk], lens_all[k:k + chunk]
                starts = self.offsets[r]
                idx = _gather_index(starts, lens)
                pos = idx - np.repeat(starts, lens)
                h = (self.symbols[idx].astype(np.uint64) + np.uint64(1)) * powers[pos]
                first = (np.cumsum(lens) - lens)
                row_h = np.zeros(len(r), dtype=np.uint64)
                nz = lens > 0
                row_h[nz] = np.add.reduceat(h, first[nz]) if len(h) else 0
                row_h ^= lens.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
                # splitmix64 finaliser
                row_h ^= row_h >> np.uint64(30)
                row_h *= np.uint64(0xBF58476D1CE4E5B9)
                row_h ^= row_h >> np.uint64(27)
                row_h *= np.uint64(0x94D049BB133111EB)
                row_h ^= row_h >> np.uint64(31)
                out[k:k + chunk] = row_h
        return out

    def __repr__(self) -> str:
        return (f"Corpus({len(self)} texts, {self.num_chars} characters, {len(self.chars)} symbols "
                f"({self.symbols.dtype}), {len(self.labels)} labels, {self.nbytes:,} bytes)")


class CorpusBuilder:
    """Accumulates ``(text, label)`` pairs chunk by chunk into a :class:`Corpus`.

    Each :meth:`extend` call encodes its texts at once (one ``str.encode`` and one table
    lookup for the whole chunk); Python strings live only as long as the chunk.
    """

    def __init__(self):
        self._lut = np.full(_MAX_CODE_POINT, -1, dtype=np.int32)  # code point -> symbol (4.4 MB while building)
        self._chars: list[np.ndarray] = []
        self._n_chars = 0
        self._symbols: list[np.ndarray] = []
        self._lengths: list[np.ndarray] = []
        self._codes: list[np.ndarray] = []
        self._label_code: dict[str, int] = {}

    def __len__(self) -> int:
        return sum(len(c) for c in self._codes)

    def extend(self, texts: Sequence[str], labels: Sequence[str]) -> None:
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        if not texts:
            return
        for t in texts:
            if not isinstance(t, str):
                raise TypeError(f"texts must be str, got {type(t).__name__} ({t!r})")
        cps = _code_points("".join(texts))
        sym = self._lut[cps]
        missing = sym < 0
        if missing.any():
            new = np.unique(cps[missing])
            self._lut[new] = np.arange(self._n_chars, self._n_chars + len(new), dtype=np.int32)
            self._chars.append(new.astype(np.uint32))
            self._n_chars += len(new)
            sym = self._lut[cps]
        self._symbols.append(sym.astype(_narrowest(self._n_chars)))
        self._lengths.append(np.fromiter(map(len, texts), dtype=np.int32, count=len(texts)))
        index = self._label_code
        for lab in set(labels):
            if not isinstance(lab, str):
                raise TypeError(f"labels must be str, got {type(lab).__name__} ({lab!r})")
            index.setdefault(lab, len(index))
        self._codes.append(np.fromiter(map(index.__getitem__, labels), dtype=np.int32, count=len(labels)))

    def finish(self) -> Corpus:
        """The corpus; labels sorted, buffers in their narrowest dtypes. A builder is used once."""
        chars = np.concatenate(self._chars) if self._chars else np.zeros(0, dtype=np.uint32)
        offsets = np.zeros(sum(len(part) for part in self._lengths) + 1, dtype=np.int64)
        pos = 0
        for part in self._lengths:
            np.cumsum(part, dtype=np.int64, out=offsets[pos + 1:pos + 1 + len(part)])
            offsets[pos + 1:pos + 1 + len(part)] += offsets[pos]
            pos += len(part)
        self._lengths = []
        symbols = np.empty(int(offsets[-1]), dtype=_narrowest(max(1, len(chars))))
        pos = 0
        self._symbols.reverse()
        while self._symbols:  # copy chunk by chunk, freeing each: peak memory stays near the final size
            part = self._symbols.pop()
            symbols[pos:pos + len(part)] = part
            pos += len(part)
        labels = sorted(self._label_code)
        remap = np.empty(max(1, len(labels)), dtype=np.int64)
        for new, name in enumerate(labels):
            remap[self._label_code[name]] = new
        codes = np.empty(len(offsets) - 1, dtype=_code_dtype(len(labels)))
        pos = 0
        for part in self._codes:
            codes[pos:pos + len(part)] = remap[part]
            pos += len(part)
        self._codes, self._chars, self._lut = [], [], None  # single use: free the lookup table
        _release_free_memory()
        return Corpus(symbols, offsets, chars, codes, labels)


def _release_free_memory() -> None:
    """Give the heap pages freed while building back to the OS (glibc ``malloc_trim``), so
    the process's resident memory reflects the corpus, not the chunks it was built from."""
    global _malloc_trim
    if _malloc_trim is None:
        try:
            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):  # not glibc: nothing to do
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim = None
