"""classify's datasets: ``name2lang`` (surname -> language) and ``csv`` (any text,label file).

name2lang data location, first found wins: the ``path`` argument (CLI ``--data``),
``$SEQKIT_DATA``, the verified copy in ``$SEQKIT_CACHE/name2lang`` (default
``~/.cache/seqkit``), else a one-time download of the PyTorch tutorial archive,
verified against the manifest ``data/name2lang.json`` (per-language counts and
checksums). ``SEQKIT_OFFLINE=1`` forbids the download.
"""
from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import os
import shutil
import stat
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from importlib import resources

from seqkit import environment
from seqkit.data.corpus import CorpusBuilder
from seqkit.data.dataset import PairDataset
from seqkit.data.files import (
    MAX_LENGTH,
    SkipReport,
    bad_line,
    check_max_length,
    check_on_bad_line,
    clean_text,
    expand,
    is_utf8_name,
    iter_file_lines,
    iter_raw_lines,
    limit_length,
    not_regular,
    require_nonempty,
    require_path,
    show_path,
    stat_path,
)
from seqkit.errors import DataError

#: seqkit's own marker in a verified download (``$SEQKIT_CACHE/name2lang``): not data, not reported
VERIFIED_MARKER = ".verified.json"
_NOT_HERE = "move it out of the data directory (only regular <Language>.txt files are read)"


# -- name2lang ------------------------------------------------------------------------
def manifest(name: str = "name2lang") -> dict:
    """The dataset manifest shipped in ``data/`` (installed as ``seqkit_plugins.manifests``)."""
    return json.loads(resources.files("seqkit_plugins.manifests").joinpath(f"{name}.json").read_text("utf-8"))


def _scan_language_dir(path: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(files, unread)``: the ``(path, file name without .txt)`` of every ``<Language>.txt``
    file of the directory ``path`` (sorted by name), and ``(shown path, reason)`` for every
    other entry. Nothing is opened here: each entry is checked with ``os.stat``, and one
    that is not a regular file (a named pipe, which would block the read; a socket; a
    device) is refused, as is a ``.txt`` file whose name is not valid UTF-8 (its name would
    be the language)."""
    try:
        names = sorted(os.listdir(path))
    except OSError as exc:
        raise DataError(f"{show_path(path)}: cannot list the directory ({exc.strerror}); check its "
                        f"permissions") from None
    found, unread = [], []
    for name in names:
        if name == VERIFIED_MARKER:
            continue
        fpath = os.path.join(path, name)
        shown = show_path(fpath)
        if name.startswith("."):
            unread.append((shown, "hidden file"))
            continue
        is_data = name.endswith(".txt")
        if is_data:
            st = stat_path(fpath)
        else:
            try:
                st = os.stat(fpath)
            except (OSError, ValueError):
                unread.append((shown, "a broken symbolic link" if os.path.islink(fpath) else "cannot be read"))
                continue
        if stat.S_ISDIR(st.st_mode):
            unread.append((shown, "a directory"))
            continue
        if not stat.S_ISREG(st.st_mode):
            raise not_regular(fpath, st.st_mode, _NOT_HERE)
        if is_data and not is_utf8_name(name):
            raise DataError(f"{shown}: file name is not valid UTF-8 (the file name is the language); rename it "
                            f"to valid UTF-8")
        if is_data:
            found.append((fpath, name[:-4]))
        elif name.lower().endswith(".txt"):
            unread.append((shown, f"extension {show_path(name[-4:])}, rename it to {show_path(name[:-4])}.txt"))
        else:
            unread.append((shown, "not a <Language>.txt file"))
    return found, unread


def read_language_dir(path: str, *, on_bad_line: str = "error", max_length: int | None = MAX_LENGTH,
                      truncate: bool = False) -> PairDataset:
    """The tutorial layout: ``<Language>.txt`` files, one name per line (streamed). Other
    entries are not read, and reported (``dataset.skipped.unread``, one warning); a
    directory with no ``.txt`` file but a ``names/`` folder (the tutorial archive's
    ``data/``) is read from that folder."""
    check_on_bad_line(on_bad_line)
    check_max_length(max_length, truncate)
    found, unread = _scan_language_dir(path)
    sub = os.path.join(path, "names")
    if not found and os.path.isdir(sub):
        inner, inner_unread = _scan_language_dir(sub)
        if inner:
            found, unread = inner, [u for u in unread if u[0] != show_path(sub)] + inner_unread
    if not found:
        hint = f" ({'; '.join(f'{p}: not read: {r}' for p, r in unread[:3])})" if unread else ""
        raise DataError(f"{show_path(path)}: directory has no <Language>.txt files{hint}; pass --data a directory "
                        f"of <Language>.txt files or a name,language file")
    builder, skips = CorpusBuilder(), SkipReport(unread_in=show_path(path))
    for shown, reason in unread:
        skips.add_unread(shown, reason)
    limit = sys.maxsize if max_length is None else max_length
    for fpath, stem in found:
        shown = show_path(fpath)
        label = clean_text(stem)
        if not label:
            raise DataError(f"{shown}: file name gives an empty language; rename it to <Language>.txt")
        for first, lines in iter_file_lines(fpath):
            names = []
            for k, line in enumerate(lines):
                name = clean_text(line)
                if not name:
                    bad_line(skips, on_bad_line, f"{shown}:{first + k}", "empty or whitespace-only name",
                             "remove the blank line")
                    continue
                if len(name) > limit:
                    name = limit_length(name, f"{shown}:{first + k}", skips, max_length=max_length,
                                        truncate=truncate, on_bad_line=on_bad_line)
                    if name is None:
                        continue
                names.append(name)
            builder.extend(names, [label] * len(names))
    require_nonempty(path, len(builder), "names")
    skips.warn()
    return PairDataset.from_corpus(builder.finish(), source=path, skipped=skips)


def read_pairs_file(path: str, *, on_bad_line: str = "error", max_length: int | None = MAX_LENGTH,
                    truncate: bool = False) -> PairDataset:
    """The course layout: one ``name,language`` per line (name2lang.txt), streamed. The
    language is the text after the last comma, so names containing commas are read correctly."""
    check_on_bad_line(on_bad_line)
    check_max_length(max_length, truncate)
    builder, skips = CorpusBuilder(), SkipReport()
    shown = show_path(path)
    limit = sys.maxsize if max_length is None else max_length
    for first, lines in iter_file_lines(path):
        names, langs = [], []
        for number, line in enumerate(lines, start=first):
            name, comma, label = line.rpartition(",")
            if not comma:
                if not line.strip():
                    bad_line(skips, on_bad_line, f"{shown}:{number}", "empty line", "remove the blank line")
                else:
                    bad_line(skips, on_bad_line, f"{shown}:{number}", f"expected 'name,language', got {line[:60]!r}",
                             "add the language after a comma")
                continue
            name, label = clean_text(name), clean_text(label)
            if not name or not label:
                what = "name" if not name else "language"
                bad_line(skips, on_bad_line, f"{shown}:{number}", f"empty {what} in {line[:60]!r}",
                         f"fill in the {what}")
                continue
            if len(name) > limit:
                name = limit_length(name, f"{shown}:{number}", skips, max_length=max_length, truncate=truncate,
                                    on_bad_line=on_bad_line)
                if name is None:
                    continue
            names.append(name)
            langs.append(label)
        builder.extend(names, langs)
    require_nonempty(path, len(builder), "name,language lines")
    skips.warn()
    return PairDataset.from_corpus(builder.finish(), source=path, skipped=skips)


def verify_counts(ds: PairDataset, expected: dict[str, int], where: str) -> None:
    got = ds.counts()
    if got != expected:
        diff = [f"{k}: {got.get(k, 0)} (expected {v})" for k, v in sorted(expected.items()) if got.get(k, 0) != v]
        diff += [f"{k}: unexpected label" for k in sorted(set(got) - set(expected))]
        raise DataError(f"{where}: name2lang data does not match its manifest ({'; '.join(diff[:4])}); "
                        f"delete it and retry, or pass --data PATH to a good copy")


def download_name2lang(target: str) -> str:
    """Download the tutorial archive, extract ``data/names`` into ``target``, verify it."""
    info = manifest()
    url = os.environ.get("SEQKIT_NAME2LANG_URL") or info["url"]
    if environment.flag("SEQKIT_OFFLINE"):
        raise DataError("name2lang: no local data (--data, $SEQKIT_DATA, cache) and SEQKIT_OFFLINE=1 forbids "
                        f"downloading {url}; pass --data DIR (a directory of <Language>.txt files)")
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            payload = resp.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(f"name2lang: could not download {url} ({reason}); on an offline machine pass "
                        f"--data DIR (a directory of <Language>.txt files) or set SEQKIT_DATA") from None
    prefix = info["archive_member_dir"].rstrip("/") + "/"
    tmp = tempfile.mkdtemp(prefix=".name2lang-", dir=os.path.dirname(target))
    try:
        try:
            archive = zipfile.ZipFile(io.BytesIO(payload))
        except zipfile.BadZipFile:
            raise DataError(f"name2lang: {url} did not return a zip archive; pass --data DIR instead") from None
        members = [m for m in archive.namelist() if m.startswith(prefix) and m.endswith(".txt")
                   and "/" not in m[len(prefix):]]
        if not members:
            raise DataError(f"name2lang: {url} has no {prefix}*.txt files; pass --data DIR instead")
        for m in members:
            with open(os.path.join(tmp, m[len(prefix):]), "wb") as f:
                f.write(archive.read(m))
        ds = read_language_dir(tmp)
        verify_counts(ds, info["counts"], url)
        checks = {}
        for fname, digest in info.get("sha256", {}).items():
            fpath = os.path.join(tmp, fname)
            if os.path.exists(fpath):
                with open(fpath, "rb") as f:
                    checks[fname] = hashlib.sha256(f.read()).hexdigest() == digest
        with open(os.path.join(tmp, ".verified.json"), "w") as f:
            json.dump({"url": url, "total": len(ds), "sha256_match": checks}, f)
        if os.path.exists(target):
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def locate_name2lang(path: str | None) -> str:
    if path:
        return expand(path)
    env = os.environ.get("SEQKIT_DATA")
    if env:
        return expand(env)
    target = os.path.join(environment.cache_dir(), "name2lang")
    if os.path.exists(os.path.join(target, ".verified.json")):
        return target
    os.makedirs(environment.cache_dir(), exist_ok=True)
    return download_name2lang(target)


def name2lang(path: str | None = None, *, on_bad_line: str = "error", max_length: int | None = MAX_LENGTH,
              truncate: bool = False) -> PairDataset:
    """Surname -> language. ``path``: a directory of ``<Language>.txt`` files (the
    tutorial layout) or a ``name,language`` file (the course's name2lang.txt); None (no
    ``--data``) looks for the data as the module docstring says, ``""`` is refused.
    ``max_length``: the longest name in characters (None: no limit); a longer one is a bad
    line, or, with ``truncate=True``, is cut to ``max_length`` characters and reported."""
    check_on_bad_line(on_bad_line)
    check_max_length(max_length, truncate)
    require_path(path, "pass --data a directory of <Language>.txt files or a name,language file, or leave "
                       "--data out to use $SEQKIT_DATA")
    where = locate_name2lang(path)
    mode = stat_path(where, "pass --data (or set SEQKIT_DATA) to the name2lang data: a directory of "
                            "<Language>.txt files or a name,language file").st_mode
    if stat.S_ISDIR(mode):
        return read_language_dir(where, on_bad_line=on_bad_line, max_length=max_length, truncate=truncate)
    if stat.S_ISREG(mode):
        return read_pairs_file(where, on_bad_line=on_bad_line, max_length=max_length, truncate=truncate)
    raise not_regular(where, mode, "pass --data a directory of <Language>.txt files or a regular name,language "
                                   "file (save a stream to a file first)")


# -- csv ------------------------------------------------------------------------------
_HEADER_WORDS = {"text", "name", "names", "word", "source", "input", "label", "labels", "language", "lang",
                 "class", "target", "category"}


def _looks_like_header(row: list[str], text_column: int, label_column: int, width: int) -> bool:
    return (len(row) >= width and row[text_column].strip().lower() in _HEADER_WORDS and
            row[label_column].strip().lower() in _HEADER_WORDS)


def csv_dataset(path: str | None = None, *, delimiter: str | None = None, header: bool | None = None,
                text_column: int = 0, label_column: int = 1, on_bad_line: str = "error",
                max_length: int | None = MAX_LENGTH, truncate: bool = False) -> PairDataset:
    """Any ``text,label`` CSV or TSV (UTF-8, quotes as in RFC 4180, header optional:
    detected when the first row's fields are words like text/name and label/language).

    Rows that hold no data are dropped and reported (``dataset.skipped.ignored``, one
    warning): blank rows, and a repeated header (two CSV files concatenated): a row equal
    to the header (``header=True``), or, with ``header=None``, any later row that looks
    like one. ``max_length``: the longest text in characters (None: no limit); a longer one
    is a bad line, or, with ``truncate=True``, is cut to ``max_length`` and reported."""
    check_on_bad_line(on_bad_line)
    check_max_length(max_length, truncate)
    require_path(path, "pass --data FILE.csv (or FILE.tsv), or leave --data out to use $SEQKIT_DATA")
    if path is None:
        path = os.environ.get("SEQKIT_DATA")
    if not path:
        raise DataError("dataset 'csv' needs a file: pass --data FILE.csv (or FILE.tsv)")
    path = expand(path)
    shown = show_path(path)
    lines = iter_raw_lines(path)  # streamed; line ends kept for csv.reader
    first = next(lines, "")
    if delimiter is None:
        delimiter = "\t" if path.lower().endswith((".tsv", ".tab")) or ("\t" in first and "," not in first) else ","
    width = max(text_column, label_column) + 1
    limit = sys.maxsize if max_length is None else max_length
    reader = csv.reader(itertools.chain([first], lines), delimiter=delimiter, strict=True)
    builder, skips = CorpusBuilder(), SkipReport()
    texts, targets = [], []
    first_record, header_row = True, None  # header_row: the header's stripped fields, once seen
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            end = reader.line_num
            span = f"line {start}" if end <= start else f"lines {start}-{end}"
            bad_line(skips, on_bad_line, f"{shown}:{start}", f"malformed CSV ({exc}; {span} not read)",
                     "fix the quoting (a quote inside a quoted field is written \"\")")
            continue  # the reader restarts at the next line
        if not row or all(not f.strip() for f in row):
            skips.add_ignored(f"{shown}:{start}", "blank row")
            continue
        if header is not False:
            fields = [f.strip() for f in row]
            if first_record and (header or _looks_like_header(row, text_column, label_column, width)):
                first_record, header_row = False, fields
                continue
            if fields == header_row or (header is None and _looks_like_header(row, text_column, label_column, width)):
                what = "repeated header row" if header_row is not None else "header row"
                skips.add_ignored(f"{shown}:{start}", f"{what} {delimiter.join(row)[:60]!r}")
                continue
        first_record = False
        if len(row) != width and not (len(row) > width and all(not f.strip() for f in row[width:])):
            reason = "missing field" if len(row) < width else f"{len(row)} fields, expected {width}"
            bad_line(skips, on_bad_line, f"{shown}:{start}", f"{reason} in {delimiter.join(row)[:60]!r}",
                     "quote fields that contain the delimiter")
            continue
        text, label = clean_text(row[text_column]), clean_text(row[label_column])
        if not text or not label:
            what = "text" if not text else "label"
            bad_line(skips, on_bad_line, f"{shown}:{start}", f"empty {what}", f"fill in the {what}")
            continue
        if len(text) > limit:
            text = limit_length(text, f"{shown}:{start}", skips, max_length=max_length, truncate=truncate,
                                on_bad_line=on_bad_line)
            if text is None:
                continue
        texts.append(text)
        targets.append(label)
        if len(texts) >= 1 << 16:
            builder.extend(texts, targets)
            texts, targets = [], []
    builder.extend(texts, targets)
    require_nonempty(path, len(builder), "text,label rows")
    skips.warn()
    return PairDataset.from_corpus(builder.finish(), source=path, skipped=skips)
