"""Strict, well-reported reading of data files: streamed UTF-8 lines and bad-line policy.

Readers never drop data silently: a bad line is an error naming the file, the line and
the reason, unless ``on_bad_line="skip"``, in which case the skipped lines are counted
and reported (``dataset.skipped`` and one warning). :func:`bad_line` is that policy in
one call, for every reader (built-in or a plugin's).
"""
from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from ..errors import ConfigError, DataError

ON_BAD_LINE = ("error", "skip")


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

    def merge(self, other: SkipReport) -> None:
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


def bad_line(skips: SkipReport, on_bad_line: str, where: str, reason: str, fix: str) -> None:
    """Apply the bad-line policy to one bad line: record it in ``skips`` (``"skip"``), or
    raise a :class:`DataError` ``"where: reason; fix, or pass --on-bad-line skip"``."""
    if on_bad_line == "skip":
        skips.add(where, reason)
        return
    raise DataError(f"{where}: {reason}; {fix}, or pass --on-bad-line skip")


def check_on_bad_line(value: str) -> str:
    """``value`` if it is a bad-line policy (``"error"`` or ``"skip"``), else a ConfigError."""
    if value not in ON_BAD_LINE:
        raise ConfigError(f"on_bad_line must be one of {', '.join(ON_BAD_LINE)}, got {value!r}")
    return value


#: Bytes read per chunk when streaming a file.
CHUNK_SIZE = 1 << 20
_BOM = b"\xef\xbb\xbf"
_NEWLINE = re.compile(r"\r\n|\r|\n")
_LINE_WITH_END = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def _open(path: str) -> BinaryIO:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file; pass an existing file with --data") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, a file was expected; pass --data a file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror}); check permissions") from None


def _count_lines(text: str) -> int:
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def iter_text_chunks(path: str, chunk_size: int | None = None) -> Iterator[str]:
    """Stream a UTF-8 file (BOM allowed) as decoded pieces of about ``chunk_size`` bytes.

    ``chunk_size`` defaults to the module's :data:`CHUNK_SIZE`, read at call time. Each
    piece ends just after a ``\\n`` (the last one at the end of the file), so no line
    and no multi-byte character is ever split between pieces (``\\n`` never occurs inside a
    UTF-8 sequence). Invalid UTF-8 is a :class:`DataError` naming the byte offset in the
    file and the line. A file with no ``\\n`` at all (CR-only line ends) is one piece.
    """
    chunk_size = CHUNK_SIZE if chunk_size is None else chunk_size
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    buf = bytearray()
    offset, line, bom_checked = 0, 1, False  # file offset and line number of buf[0]
    with _open(path) as f:
        while True:
            try:
                block = f.read(chunk_size)
            except OSError as exc:
                raise DataError(f"{path}: cannot read ({exc.strerror}); check the file") from None
            searched = len(buf)
            buf += block
            if not bom_checked:
                if len(buf) < len(_BOM) and block:
                    continue
                bom_checked = True
                if buf.startswith(_BOM):
                    del buf[:len(_BOM)]
                    offset, searched = len(_BOM), 0
            if block:
                cut = buf.rfind(b"\n", searched) + 1
                if cut == 0:
                    continue
            else:
                cut = len(buf)
            try:
                text = buf[:cut].decode("utf-8")
            except UnicodeDecodeError as exc:
                at = line + _count_lines(buf[:exc.start].decode("utf-8"))
                raise DataError(f"{path}: invalid UTF-8 at byte offset {offset + exc.start} (line {at}); "
                                f"re-save the file as UTF-8") from None
            del buf[:cut]
            offset += cut
            line += _count_lines(text)
            if text:
                yield text
            if not block:
                return


def iter_file_lines(path: str, chunk_size: int | None = None) -> Iterator[tuple[int, list[str]]]:
    """Stream a UTF-8 file as ``(number of the first line, lines)`` per chunk; line ends
    (LF, CRLF or CR) removed, numbering from 1."""
    number = 1
    for text in iter_text_chunks(path, chunk_size):
        lines = _NEWLINE.split(text)
        if lines[-1] == "":
            lines.pop()
        yield number, lines
        number += len(lines)


def iter_raw_lines(path: str, chunk_size: int | None = None) -> Iterator[str]:
    """Stream a UTF-8 file line by line, line ends kept (what ``csv.reader`` expects)."""
    for text in iter_text_chunks(path, chunk_size):
        yield from _LINE_WITH_END.findall(text)


def read_text(path: str) -> str:
    """Read a whole UTF-8 file (BOM allowed); invalid UTF-8 is an error naming the byte offset.
    The dataset readers stream instead (:func:`iter_file_lines`, :func:`iter_raw_lines`)."""
    return "".join(iter_text_chunks(path))


def iter_lines(text: str) -> Iterator[tuple[int, str]]:
    """``(line_number, line)`` with LF, CRLF or CR line ends removed; numbering from 1.
    Only these three end a line (unlike ``str.splitlines``, which also splits at U+2028,
    U+0085 and other separators that may be part of a name)."""
    lines = _NEWLINE.split(text)
    if lines[-1] == "":
        lines.pop()
    return enumerate(lines, start=1)


def clean_text(value: str) -> str:
    """Strip surrounding whitespace (including no-break spaces)."""
    return value.strip()


def require_nonempty(path: str, n: int, what: str = "records") -> None:
    """A DataError when a file gave no ``what`` (``n == 0``)."""
    if n == 0:
        raise DataError(f"{path}: contains no {what}; check that --data points at the right file")


def expand(path: str) -> str:
    """``path`` with ``~`` expanded, made absolute."""
    return os.path.abspath(os.path.expanduser(path))
