"""The ``fused-pack`` collator: raw strings (or a corpus's symbol buffer) -> PackedSequence
in one pass of seqkit's compiled encode-and-pack op."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from seqkit.data.batch import Batch, Collator
from seqkit.errors import DataError


class FusedPackCollator(Collator):
    """Raw strings -> ``PackedSequence`` of symbol indices in one C++ pass (no tensor per
    name): the same batch as ``pack``, built by :func:`seqkit.ops.encode_pack`."""

    def __init__(self, encoder, *, labels: Sequence[str] | None = None):
        super().__init__(encoder, labels=labels)
        self.alphabet = "".join(encoder.symbols)
        self.unknown = int(encoder.unk_index)
        self.normalize = encoder.normalize if (getattr(encoder, "fold", False) or
                                               getattr(encoder, "lowercase", False)) else None
        self._index = {ch: i for i, ch in enumerate(encoder.symbols)}
        self._maps: dict[int, Any] = {}

    def _corpus_maps(self, corpus):
        """What a corpus's batches are packed from, built once per corpus: its symbol buffer
        mapped to this collator's symbol indices, its offsets, every text's length and label
        index (None where a label is unknown). None when a corpus character does not encode
        to exactly one symbol (e.g. accent folding that drops a combining mark): the string
        path then runs."""
        key = id(corpus)
        if key not in self._maps:
            lut = []
            for code in corpus.chars.tolist():
                ch = chr(code)
                ch = self.normalize(ch) if self.normalize is not None else ch
                if len(ch) != 1:
                    lut = None
                    break
                lut.append(self._index.get(ch, self.unknown))
            maps = None
            if lut is not None:
                dtype = np.uint8 if len(self.alphabet) <= 256 else np.int32
                symbols = torch.from_numpy(np.asarray(lut, dtype=dtype)[corpus.symbols])
                labels = None
                if self.labels is not None and all(name in self._label_index for name in corpus.labels):
                    table = np.asarray([self._label_index[name] for name in corpus.labels], dtype=np.int64)
                    labels = table[np.asarray(corpus.codes, dtype=np.int64)]
                # a writable copy: the corpus buffers may be mapped read-only
                offsets = np.array(corpus.offsets, dtype=np.int64)
                # the corpus itself is kept so that its id (the key) is not reused while cached
                maps = (symbols, torch.from_numpy(offsets), corpus.lengths().astype(np.int64, copy=False), labels,
                        corpus)
            self._maps[key] = maps
        return self._maps[key]

    def _from_corpus(self, items) -> Batch | None:
        """The batch packed straight from the corpus buffer (no string per name)."""
        from seqkit import ops

        maps = self._corpus_maps(items.corpus)
        if maps is None or maps[3] is None:
            return None
        symbols, offsets, lengths_all, labels, _ = maps
        rows = np.ascontiguousarray(items.rows, dtype=np.int64)
        lengths = lengths_all[rows]  # every symbol is one step
        if not lengths.all():
            return None  # an empty text: the string path reports it
        packed = ops.encode_pack_corpus(symbols, offsets, torch.from_numpy(rows))
        return Batch(packed, torch.from_numpy(lengths), torch.from_numpy(labels[rows]))

    @staticmethod
    def _lengths(packed, n: int) -> torch.Tensor:
        # sequence j (sorted order) is active in the steps whose batch size exceeds j
        return (torch.arange(n).unsqueeze(1) < packed.batch_sizes.unsqueeze(0)).sum(1)[packed.unsorted_indices]

    def __call__(self, items: Sequence[tuple[str, Any]]) -> Batch:
        from seqkit import ops

        if getattr(items, "corpus", None) is not None and len(items):
            batch = self._from_corpus(items)
            if batch is not None:
                return batch
        texts, targets = self.split(items)
        if self.normalize is not None:
            texts = [self.normalize(t) for t in texts]
        try:
            packed = ops.encode_pack(texts, self.alphabet, unknown=self.unknown)
        except ValueError as exc:
            raise DataError(f"fused-pack: {exc}") from None
        return Batch(packed, self._lengths(packed, len(texts)), targets)
