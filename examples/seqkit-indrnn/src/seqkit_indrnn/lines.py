"""The ``lines`` dataset: one ``text<TAB>label`` per line.

- UTF-8 (a BOM is fine), LF, CRLF or CR line ends; blank lines are skipped.
- The label is the field after the *last* tab; surrounding whitespace is stripped.
- A line without a tab, or with an empty text or label, is an error naming the file and
  line (``DataError``), or is skipped and counted with ``on_bad_line="skip"``.
"""
from __future__ import annotations

import os

from seqkit.data import PairDataset, SkipReport, check_on_bad_line, clean_text, expand, iter_lines, read_text
from seqkit.errors import DataError


def lines_dataset(path: str | None = None, *, on_bad_line: str = "error", delimiter: str = "\t") -> PairDataset:
    """Read ``path`` (or ``$SEQKIT_DATA``): one ``text<delimiter>label`` per line."""
    check_on_bad_line(on_bad_line)
    if not delimiter:
        raise ValueError("lines: delimiter must be a non-empty string")
    path = path or os.environ.get("SEQKIT_DATA")
    if not path:
        raise DataError("dataset 'lines' needs a file: pass --data FILE (one 'text<TAB>label' per line)")
    path = expand(path)
    texts, labels, skips = [], [], SkipReport()

    def bad(number: int, reason: str, fix: str) -> None:
        where = f"{path}:{number}"
        if on_bad_line == "skip":
            skips.add(where, reason)
            return
        raise DataError(f"{where}: {reason}; {fix}, or pass --on-bad-line skip")

    for number, line in iter_lines(read_text(path)):
        if not line.strip():
            continue
        if delimiter not in line:
            bad(number, f"no {delimiter!r} between text and label in {line[:60]!r}", "separate them with a tab")
            continue
        text, label = (clean_text(part) for part in line.rsplit(delimiter, 1))
        if not text or not label:
            what = "text" if not text else "label"
            bad(number, f"empty {what} in {line[:60]!r}", f"fill in the {what}")
            continue
        texts.append(text)
        labels.append(label)
    if not texts:
        raise DataError(f"{path}: contains no 'text<TAB>label' lines; check that --data points at the right file")
    skips.warn()
    return PairDataset(texts, labels, source=path, skipped=skips)
