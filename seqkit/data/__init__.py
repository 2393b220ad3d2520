"""Data: from files to batches, in the order the data flows.

- :mod:`~seqkit.data.files`: streamed UTF-8 reading, the bad-line policy (:func:`bad_line`).
- :mod:`~seqkit.data.corpus`: texts and labels in flat numpy buffers (:class:`Corpus`).
- :mod:`~seqkit.data.dataset`: :class:`PairDataset`, ``(text, label)`` pairs over a corpus.
- :mod:`~seqkit.data.splits`: stratified (and de-duplicated) train/test splits.
- :mod:`~seqkit.data.encoding`: :class:`Encoder`, text -> symbol indices.
- :mod:`~seqkit.data.sampling`: length-bucketed, class-balanced, distributed batches.
- :mod:`~seqkit.data.batch`: :class:`Batch` and the :class:`Collator` base class.

The names below are importable from ``seqkit.data`` directly; each loads its module on
first use (``import seqkit.data`` itself imports neither numpy nor torch).
"""
from __future__ import annotations

from .. import lazy

_WHERE = {
    "ON_BAD_LINE": ".files", "SkipReport": ".files", "bad_line": ".files", "check_on_bad_line": ".files",
    "clean_text": ".files", "expand": ".files", "iter_file_lines": ".files", "iter_lines": ".files",
    "iter_raw_lines": ".files", "iter_text_chunks": ".files", "read_text": ".files", "require_nonempty": ".files",
    "MAX_LENGTH": ".files", "check_max_length": ".files", "limit_length": ".files", "show_path": ".files",
    "check_regular_file": ".files",
    "Corpus": ".corpus", "CorpusBuilder": ".corpus",
    "PairDataset": ".dataset", "CorpusItems": ".dataset",
    "Split": ".splits", "split_dataset": ".splits",
    "Encoder": ".encoding", "fold_to_ascii": ".encoding", "PAD_INDEX": ".encoding", "UNK_INDEX": ".encoding",
    "BucketBatchSampler": ".sampling", "class_weights": ".sampling", "padding_waste": ".sampling",
    "Batch": ".batch", "Collator": ".batch",
}

__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy.exports(__name__, _WHERE)
