"""Built-in fused components: the ``fused-pack`` collator and the ``fused-gru`` cell.

Both run seqkit's compiled ops (``seqkit.ops``: C++ on CPU) and fall back to the
pure-PyTorch reference implementation, with one warning, where the extension cannot be
built; ``seqkit plugins`` shows which backend is active.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from seqkit import hookimpl
from seqkit.batch import Batch, Collator
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
        """(symbol lookup, label lookup) from ``corpus``'s tables to this collator's indices,
        or None when a corpus character does not encode to exactly one symbol (e.g. accent
        folding that drops a combining mark) or a label is unknown: the string path then runs."""
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
            labels = None
            if self.labels is not None and all(name in self._label_index for name in corpus.labels):
                labels = torch.tensor([self._label_index[name] for name in corpus.labels], dtype=torch.long)
            self._maps[key] = None if lut is None else (torch.tensor(lut, dtype=torch.long), labels, corpus)
        return self._maps[key]

    def _from_corpus(self, items) -> Batch | None:
        """The batch packed straight from the corpus buffer (no string per name)."""
        from seqkit import ops

        maps = self._corpus_maps(items.corpus)
        if maps is None or maps[1] is None:
            return None
        lut, label_lut, corpus = maps
        rows = np.ascontiguousarray(items.rows, dtype=np.int64)
        # every symbol is one step: a text's length is its span of the corpus buffer
        lengths = (corpus.offsets[rows + 1] - corpus.offsets[rows]).astype(np.int64)
        if not lengths.all():
            return None  # an empty text: the string path reports it
        packed = ops.encode_pack_corpus(corpus.symbols, corpus.offsets, torch.from_numpy(rows))
        data = lut[packed.data]
        packed = torch.nn.utils.rnn.PackedSequence(data, packed.batch_sizes, packed.sorted_indices,
                                                   packed.unsorted_indices)
        targets = label_lut[torch.from_numpy(np.asarray(corpus.codes[rows], dtype=np.int64))]
        return Batch(packed, torch.from_numpy(lengths), targets)

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


def make_fused_gru(input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                   bidirectional: bool = False, **options):
    """``seqkit.fused_gru.FusedGRU``: nn.GRU's parameters and state_dict, fused kernels."""
    from seqkit.fused_gru import FusedGRU

    if num_layers == 1:
        dropout = 0.0
    cell = FusedGRU(input_size, hidden_size, num_layers=num_layers, dropout=dropout, bidirectional=bidirectional,
                    **options)
    cell.accepts_indices = True  # one-hot input arrives as indices: W_ih column gather
    return cell


@hookimpl
def seqkit_register_collators(register):
    register("fused-pack", FusedPackCollator,
             help="raw strings -> PackedSequence in one C++ pass (seqkit.ops.encode_pack)")


@hookimpl
def seqkit_register_cells(register):
    register("fused-gru", make_fused_gru,
             help="GRU with fused C++ forward/backward on packed batches; nn.GRU weights and state_dict")
