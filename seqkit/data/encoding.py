"""Encoders: text -> symbol indices over an alphabet.

Symbol 0 is padding and symbol 1 stands for any character outside the alphabet; the
alphabet's characters follow, so ``size == len(alphabet) + 2``. Encoders are plain
objects with a JSON-able ``state_dict()`` so a checkpoint can rebuild them with
``torch.load(..., weights_only=True)``.
"""
from __future__ import annotations

import unicodedata
from collections import Counter
from typing import Iterable, Sequence

PAD_INDEX = 0
UNK_INDEX = 1
RESERVED = ("<pad>", "<unk>")
# Stand-ins for the reserved symbols where a character is needed (e.g. the alphabet
# handed to the fused encode-and-pack op). They are Unicode noncharacters, which never
# occur in interchanged text.
RESERVED_CHARS = ("\U0010fffe", "\U0010ffff")


def fold_to_ascii(text: str) -> str:
    """Drop accents the way the PyTorch name2lang tutorial does (NFD, remove marks)."""
    if text.isascii():  # nothing to fold: the common case, and no Unicode normalisation needed
        return text
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


class Encoder:
    """Maps text to symbol indices: pad=0, unknown=1, then ``alphabet``.

    - ``alphabet``: a fixed alphabet (string or sequence of characters), or ``None`` to
      learn it from the training texts with :meth:`fit`.
    - ``fold``: strip accents first (``"Müller" -> "Muller"``).
    - ``one_hot``: tell the model to feed one-hot rows (True) or a learned embedding.
    """

    pad_index = PAD_INDEX
    unk_index = UNK_INDEX

    def __init__(self, alphabet: Iterable[str] | None = None, *, fold: bool = False,
                 lowercase: bool = False, one_hot: bool = False, min_count: int = 1, name: str = ""):
        self.name = name
        self.fold = bool(fold)
        self.lowercase = bool(lowercase)
        self.one_hot = bool(one_hot)
        self.min_count = int(min_count)
        self.fixed = alphabet is not None
        self._set_alphabet(list(alphabet) if alphabet is not None else [])

    def _set_alphabet(self, alphabet: list[str]) -> None:
        for ch in alphabet:
            if not isinstance(ch, str) or len(ch) != 1:
                raise ValueError(f"alphabet entries must be single characters, got {ch!r}")
        if len(set(alphabet)) != len(alphabet):
            dup = [c for c, n in Counter(alphabet).items() if n > 1]
            raise ValueError(f"alphabet has repeated characters: {dup!r}")
        self.alphabet = alphabet
        self._index = {ch: i + len(RESERVED) for i, ch in enumerate(alphabet)}

    @property
    def size(self) -> int:
        """Number of symbols, reserved ones included (the one-hot width / embedding rows)."""
        return len(RESERVED) + len(self.alphabet)

    @property
    def symbols(self) -> list[str]:
        """Every symbol in index order, the reserved ones as their noncharacter stand-ins."""
        return list(RESERVED_CHARS) + self.alphabet

    def normalize(self, text: str) -> str:
        if self.fold:
            text = fold_to_ascii(text)
        if self.lowercase:
            text = text.lower()
        return text

    def fit(self, texts: Iterable[str]) -> "Encoder":
        """Learn the alphabet from ``texts`` (no-op for a fixed alphabet). Sorted by code point."""
        if self.fixed:
            return self
        counts = Counter()
        for t in texts:
            counts.update(self.normalize(t))
        self._set_alphabet(sorted(c for c, n in counts.items() if n >= self.min_count))
        return self

    def encode(self, text: str) -> list[int]:
        index = self._index
        return [index.get(c, UNK_INDEX) for c in self.normalize(text)]

    def decode(self, indices: Sequence[int]) -> str:
        symbols = self.symbols
        out = []
        for i in indices:
            i = int(i)
            if i == PAD_INDEX:
                continue
            out.append("\ufffd" if i == UNK_INDEX else symbols[i])
        return "".join(out)

    def state_dict(self) -> dict:
        return {"alphabet": list(self.alphabet), "fold": self.fold, "lowercase": self.lowercase,
                "one_hot": self.one_hot, "min_count": self.min_count, "fixed": self.fixed, "name": self.name}

    def load_state_dict(self, state: dict) -> "Encoder":
        self.fold, self.lowercase = bool(state["fold"]), bool(state["lowercase"])
        self.one_hot, self.min_count = bool(state["one_hot"]), int(state["min_count"])
        self.fixed, self.name = bool(state.get("fixed", False)), state.get("name", self.name)
        self._set_alphabet(list(state["alphabet"]))
        return self

    def __repr__(self) -> str:
        kind = "fixed" if self.fixed else "learned"
        return (f"{type(self).__name__}(size={self.size}, {kind} alphabet, fold={self.fold}, "
                f"one_hot={self.one_hot})")
