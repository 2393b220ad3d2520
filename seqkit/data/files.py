"""Strict, well-reported reading of data files: streamed UTF-8 lines and bad-line policy.

Readers never drop data silently: a bad line is an error naming the file, the line and
the reason, unless ``on_bad_line="skip"``, in which case the skipped lines are counted
and reported (``dataset.skipped`` and one warning). :func:`bad_line` is that policy in
one call, for every reader (built-in or a plugin's); :func:`limit_length` applies the
longest-text limit (``--max-length``, ``--truncate``) through the same policy.

Only regular files are opened: a named pipe, a socket or a device where data is expected
is refused in one line (:func:`check_regular_file`), never read, so a pipe without a
writer cannot block a run. Paths in messages go through :func:`show_path`, which keeps a
message on one line and printable whatever bytes the file name holds.
"""
from __future__ import annotations

import os
import re
import stat
import unicodedata
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO, TypeVar

from ..errors import ConfigError, DataError

ON_BAD_LINE = ("error", "skip")

#: The built-in readers' default longest text, in characters (``--max-length``): a longer
#: text is a bad line, or is cut with ``truncate=True``. Batches are padded to their
#: longest text, so one huge line costs memory in every batch it lands in.
MAX_LENGTH = 1000


def _first(items: list[str], limit: int) -> str:
    return "; ".join(items[:limit])


@dataclass
class SkipReport:
    """What a reader did not take as written: how many, and the first few places.

    - ``count`` / ``examples``: bad lines skipped with ``on_bad_line="skip"``
      (``"FILE:LINE: reason"``);
    - ``ignored`` / ``ignored_examples``: rows the format allows but that hold no data
      (blank CSV rows, a repeated CSV header), dropped whatever the policy;
    - ``truncated`` / ``truncated_examples``: texts (or seq2seq targets) cut to
      ``max_length`` with ``truncate=True``; ``truncated_chars`` (``truncated_tokens``)
      how many characters (target tokens) were cut;
    - ``unread`` / ``unread_examples``: entries of a data directory that were not read
      (``"PATH: not read: reason"``).

    Each kind is reported in one warning (:meth:`warn`); :meth:`as_dict` gives them all.
    """

    count: int = 0
    examples: list[str] = field(default_factory=list)
    limit: int = 5
    ignored: int = 0
    ignored_examples: list[str] = field(default_factory=list)
    truncated: int = 0
    truncated_chars: int = 0
    truncated_tokens: int = 0
    truncated_examples: list[str] = field(default_factory=list)
    #: the ``max_length`` the texts were cut to
    truncated_to: int | None = None
    unread: int = 0
    unread_examples: list[str] = field(default_factory=list)
    #: the directory whose entries were not read (for the warning)
    unread_in: str = ""

    def add(self, where: str, reason: str) -> None:
        """Record a bad line skipped at ``where`` (``FILE:LINE``)."""
        self.count += 1
        if len(self.examples) < self.limit:
            self.examples.append(f"{where}: {reason}")

    def add_ignored(self, where: str, reason: str) -> None:
        """Record a row dropped because it holds no data (a blank row, a repeated header)."""
        self.ignored += 1
        if len(self.ignored_examples) < self.limit:
            self.ignored_examples.append(f"{where}: {reason}")

    def add_truncated(self, where: str, length: int, max_length: int, what: str = "text",
                      unit: str = "characters") -> None:
        """Record a ``what`` of ``length`` ``unit`` (characters, or tokens) cut to ``max_length``."""
        self.truncated += 1
        self.truncated_to = max_length
        if unit == "characters":
            self.truncated_chars += length - max_length
        else:
            self.truncated_tokens += length - max_length
        if len(self.truncated_examples) < self.limit:
            shown = f"{length} {unit}" if what == "text" else f"{what} of {length} {unit}"
            self.truncated_examples.append(f"{where}: {shown}")

    def add_unread(self, path: str, reason: str) -> None:
        """Record a directory entry ``path`` (as shown) that was not read, and why."""
        self.unread += 1
        if len(self.unread_examples) < self.limit:
            self.unread_examples.append(f"{path}: not read: {reason}")

    def merge(self, other: SkipReport) -> None:
        for mine, theirs in ((self.examples, other.examples), (self.ignored_examples, other.ignored_examples),
                             (self.truncated_examples, other.truncated_examples),
                             (self.unread_examples, other.unread_examples)):
            mine.extend(theirs[:max(0, self.limit - len(mine))])
        self.count += other.count
        self.ignored += other.ignored
        self.truncated += other.truncated
        self.truncated_chars += other.truncated_chars
        self.truncated_tokens += other.truncated_tokens
        self.truncated_to = self.truncated_to or other.truncated_to
        self.unread += other.unread
        self.unread_in = self.unread_in or other.unread_in

    def messages(self) -> list[str]:
        """One line per kind of report that is not empty (what :meth:`warn` shows)."""
        out = []

        def more(n: int, shown: list[str]) -> str:
            return ", ..." if n > len(shown) else ""

        if self.count:
            out.append(f"skipped {self.count} bad line(s): {_first(self.examples, self.limit)}"
                       f"{more(self.count, self.examples)}")
        if self.ignored:
            out.append(f"ignored {self.ignored} row(s) holding no data: {_first(self.ignored_examples, self.limit)}"
                       f"{more(self.ignored, self.ignored_examples)}")
        if self.truncated:
            cut = [f"{n:,} {unit} cut" for n, unit in ((self.truncated_chars, "characters"),
                                                        (self.truncated_tokens, "target tokens")) if n]
            unit = "" if self.truncated_tokens else " characters"
            out.append(f"truncated {self.truncated} text(s) to --max-length {self.truncated_to}{unit} "
                       f"({', '.join(cut)}): {_first(self.truncated_examples, self.limit)}"
                       f"{more(self.truncated, self.truncated_examples)}")
        if self.unread:
            where = f" in {self.unread_in}" if self.unread_in else ""
            out.append(f"did not read {self.unread} file(s){where}: {_first(self.unread_examples, self.limit)}"
                       f"{more(self.unread, self.unread_examples)}")
        return out

    def __str__(self) -> str:
        return " / ".join(self.messages()) or "nothing skipped"

    def as_dict(self) -> dict:
        """Every count and the first examples, JSON-ready (for a run's ``metrics.json``)."""
        return {"skipped_lines": self.count, "skipped_examples": list(self.examples),
                "ignored_rows": self.ignored, "ignored_examples": list(self.ignored_examples),
                "truncated_texts": self.truncated, "truncated_characters": self.truncated_chars,
                "truncated_tokens": self.truncated_tokens,
                "truncated_examples": list(self.truncated_examples),
                "unread_files": self.unread, "unread_examples": list(self.unread_examples)}

    def warn(self) -> None:
        """One warning per kind of report that is not empty."""
        for message in self.messages():
            warnings.warn(message, stacklevel=3)


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


# -- the longest text -------------------------------------------------------------------
def check_max_length(max_length: int | None, truncate: bool = False) -> int | None:
    """``max_length`` if it is a positive integer or None (no limit), and ``truncate`` a
    bool; else a :class:`ConfigError`."""
    if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int)
                                   or max_length < 1):
        raise ConfigError(f"max_length must be a positive integer (characters) or None for no limit, "
                          f"got {max_length!r} (--max-length)")
    if not isinstance(truncate, bool):
        raise ConfigError(f"truncate must be true or false, got {truncate!r} (--truncate)")
    return max_length


T = TypeVar("T", bound=Sequence)


def limit_length(item: T, where: str, skips: SkipReport, *, max_length: int | None, truncate: bool = False,
                 on_bad_line: str = "error", what: str = "text", unit: str = "characters") -> T | None:
    """``item`` (a text, or a sequence of tokens) under the longest-item limit.

    Within ``max_length`` (or with ``max_length=None``) it is returned as it is. Longer,
    with ``truncate=True`` it is cut to its first ``max_length`` elements (a text also
    loses the blanks the cut leaves at its end) and counted in ``skips.truncated``;
    else it is a bad line (:func:`bad_line`): a :class:`DataError` ``"WHERE: text of N
    characters is longer than --max-length M; shorten it, raise --max-length, pass
    --truncate to cut it, or pass --on-bad-line skip"``, or, with
    ``on_bad_line="skip"``, counted in ``skips`` and ``None`` returned (drop the line).
    """
    if max_length is None or len(item) <= max_length:
        return item
    if truncate:
        skips.add_truncated(where, len(item), max_length, what, unit)
        cut = item[:max_length]
        return cut.rstrip() if isinstance(cut, str) else cut
    bad_line(skips, on_bad_line, where, f"{what} of {len(item)} {unit} is longer than --max-length {max_length}",
             "shorten it, raise --max-length, pass --truncate to cut it")
    return None


# -- paths --------------------------------------------------------------------------------
_UNSHOWN = ("Cc", "Zl", "Zp")  # control characters, line and paragraph separators


def show_path(path: str | bytes | os.PathLike) -> str:
    """``path`` as a one-line message can show it: bytes that are not UTF-8 as ``\\xNN``
    (``Fran\\xe7ais.txt``), control characters and line or paragraph separators as
    escapes (``\\n``, ``\\x1b``, ``\\u2028``); an ordinary path is returned as it is."""
    path = os.fspath(path)
    if isinstance(path, str) and path.isprintable():
        return path  # printable str: no control character and no lone surrogate
    try:
        raw = os.fsencode(path)
    except UnicodeEncodeError:  # a str with surrogates that no file-system name decodes to
        raw = path.encode("utf-8", "surrogatepass")
    text = raw.decode("utf-8", "backslashreplace")
    return "".join(c.encode("unicode_escape").decode("ascii") if unicodedata.category(c) in _UNSHOWN else c
                   for c in text)


def is_utf8_name(name: str) -> bool:
    """Whether a file name (as ``os.listdir`` gives it) is valid UTF-8: names that are not
    hold lone surrogates (``surrogateescape``), which no text may carry."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def file_kind(mode: int) -> str:
    """What a ``st_mode`` is, in words: ``"a regular file"``, ``"a named pipe"``, ..."""
    if stat.S_ISREG(mode):
        return "a regular file"
    return next((words for test, words in _KINDS if test(mode)), "not a regular file")


def require_path(path: str | None, fix: str = "pass --data a file or directory, or leave --data out") -> None:
    """A :class:`DataError` when ``path`` is the empty string (``--data ""``): it is not a
    file, and must not fall back to the default data silently. None means "not given"."""
    if path is not None and not os.fspath(path):
        raise DataError(f"--data '': empty path; {fix}")


def stat_path(path: str, missing: str = "pass an existing file with --data") -> os.stat_result:
    """``os.stat(path)`` (links followed), or a one-line :class:`DataError`: no such file
    (``missing`` says what to do), a broken symbolic link, a NUL byte, no permission."""
    shown = show_path(path)
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        if os.path.islink(path):
            try:
                target = show_path(os.readlink(path))
            except OSError:
                target = "?"
            raise DataError(f"{shown}: is a broken symbolic link (to {target}); point it at the data or "
                            f"remove it") from None
        raise DataError(f"{shown}: no such file or directory; {missing}") from None
    except ValueError:  # an embedded NUL byte
        raise DataError(f"{shown}: a path cannot hold a NUL byte; pass --data a real path") from None
    except OSError as exc:
        raise DataError(f"{shown}: cannot read ({exc.strerror}); check the path and its permissions") from None


def not_regular(path: str, mode: int,
                fix: str = "pass --data a regular file (save a stream to a file first)") -> DataError:
    """The refusal of a path that is not a regular file (a pipe, socket, device)."""
    if stat.S_ISDIR(mode):
        return DataError(f"{show_path(path)}: is a directory, a file was expected; pass --data a file")
    return DataError(f"{show_path(path)}: is {file_kind(mode)}, not a regular file; {fix}")


def check_regular_file(path: str, missing: str = "pass an existing file with --data",
                       fix: str = "pass --data a regular file (save a stream to a file first)") -> None:
    """A :class:`DataError` unless ``path`` is (a link to) a regular file. Checked with
    ``os.stat`` before anything opens it: opening a named pipe for reading blocks until a
    writer appears, and a device may never end."""
    st = stat_path(path, missing)
    if not stat.S_ISREG(st.st_mode):
        raise not_regular(path, st.st_mode, fix)


#: Bytes read per chunk when streaming a file.
CHUNK_SIZE = 1 << 20
_BOM = b"\xef\xbb\xbf"
_NEWLINE = re.compile(r"\r\n|\r|\n")
_LINE_WITH_END = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def _open(path: str) -> BinaryIO:
    """``path`` opened for binary reading, once it is known to be a regular file.

    The file is opened with ``O_NONBLOCK`` and checked again on the open descriptor: if it
    was replaced by a pipe between the check and the open, the open does not wait for a
    writer and the pipe is refused all the same."""
    check_regular_file(path)
    shown = show_path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise DataError(f"{shown}: no such file; pass an existing file with --data") from None
    except OSError as exc:
        raise DataError(f"{shown}: cannot read ({exc.strerror}); check permissions") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise not_regular(path, mode)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _count_lines(text: str) -> int:
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def iter_text_chunks(path: str, chunk_size: int | None = None) -> Iterator[str]:
    """Stream a UTF-8 file (BOM allowed) as decoded pieces of about ``chunk_size`` bytes.

    ``chunk_size`` defaults to the module's :data:`CHUNK_SIZE`, read at call time. Each
    piece ends just after a ``\\n`` (the last one at the end of the file), so no line
    and no multi-byte character is ever split between pieces (``\\n`` never occurs inside a
    UTF-8 sequence). Invalid UTF-8 is a :class:`DataError` naming the byte offset in the
    file and the line. A file with no ``\\n`` at all (CR-only line ends) is one piece.
    Only a regular file is opened (:func:`check_regular_file`).
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
                raise DataError(f"{show_path(path)}: cannot read ({exc.strerror}); check the file") from None
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
                raise DataError(f"{show_path(path)}: invalid UTF-8 at byte offset {offset + exc.start} (line {at}); "
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
        raise DataError(f"{show_path(path)}: contains no {what}; check that --data points at the right file")


def expand(path: str) -> str:
    """``path`` with ``~`` expanded, made absolute."""
    return os.path.abspath(os.path.expanduser(path))
