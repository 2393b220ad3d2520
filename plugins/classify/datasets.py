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
import tempfile
import urllib.error
import urllib.request
import zipfile
from importlib import resources

from seqkit import environment
from seqkit.data.corpus import CorpusBuilder
from seqkit.data.dataset import PairDataset
from seqkit.data.files import (
    SkipReport,
    bad_line,
    check_on_bad_line,
    clean_text,
    expand,
    iter_file_lines,
    iter_raw_lines,
    require_nonempty,
)
from seqkit.errors import DataError


# -- name2lang ------------------------------------------------------------------------
def manifest(name: str = "name2lang") -> dict:
    """The dataset manifest shipped in ``data/`` (installed as ``seqkit_plugins.manifests``)."""
    return json.loads(resources.files("seqkit_plugins.manifests").joinpath(f"{name}.json").read_text("utf-8"))


def read_language_dir(path: str, *, on_bad_line: str = "error") -> PairDataset:
    """The tutorial layout: ``<Language>.txt`` files, one name per line (streamed)."""
    files = sorted(f for f in os.listdir(path) if f.endswith(".txt") and not f.startswith("."))
    if not files:
        if os.path.isdir(os.path.join(path, "names")):
            return read_language_dir(os.path.join(path, "names"), on_bad_line=on_bad_line)
        raise DataError(f"{path}: directory has no <Language>.txt files; pass --data a directory of "
                        f"<Language>.txt files or a name,language file")
    builder, skips = CorpusBuilder(), SkipReport()
    for fname in files:
        label = fname[:-4]
        fpath = os.path.join(path, fname)
        if not label.strip():
            raise DataError(f"{fpath}: file name gives an empty language; rename it to <Language>.txt")
        for first, lines in iter_file_lines(fpath):
            names = []
            for k, line in enumerate(lines):
                name = clean_text(line)
                if not name:
                    bad_line(skips, on_bad_line, f"{fpath}:{first + k}", "empty or whitespace-only name",
                         "remove the blank line")
                    continue
                names.append(name)
            builder.extend(names, [label] * len(names))
    require_nonempty(path, len(builder), "names")
    skips.warn()
    return PairDataset.from_corpus(builder.finish(), source=path, skipped=skips)


def read_pairs_file(path: str, *, on_bad_line: str = "error") -> PairDataset:
    """The course layout: one ``name,language`` per line (name2lang.txt), streamed. The
    language is the text after the last comma, so names containing commas are read correctly."""
    builder, skips = CorpusBuilder(), SkipReport()
    for first, lines in iter_file_lines(path):
        names, langs = [], []
        for number, line in enumerate(lines, start=first):
            name, comma, label = line.rpartition(",")
            if not comma:
                if not line.strip():
                    bad_line(skips, on_bad_line, f"{path}:{number}", "empty line", "remove the blank line")
                else:
                    bad_line(skips, on_bad_line, f"{path}:{number}", f"expected 'name,language', got {line[:60]!r}",
                         "add the language after a comma")
                continue
            name, label = clean_text(name), clean_text(label)
            if not name or not label:
                what = "name" if not name else "language"
                bad_line(skips, on_bad_line, f"{path}:{number}", f"empty {what} in {line[:60]!r}", f"fill in the {what}")
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


def name2lang(path: str | None = None, *, on_bad_line: str = "error") -> PairDataset:
    """Surname -> language. ``path``: a directory of ``<Language>.txt`` files (the
    tutorial layout) or a ``name,language`` file (the course's name2lang.txt)."""
    check_on_bad_line(on_bad_line)
    where = locate_name2lang(path)
    if os.path.isdir(where):
        return read_language_dir(where, on_bad_line=on_bad_line)
    if os.path.isfile(where):
        return read_pairs_file(where, on_bad_line=on_bad_line)
    raise DataError(f"{where}: no such file or directory; pass --data (or set SEQKIT_DATA) to the name2lang "
                    f"data: a directory of <Language>.txt files or a name,language file")


# -- csv ------------------------------------------------------------------------------
_HEADER_WORDS = {"text", "name", "names", "word", "source", "input", "label", "labels", "language", "lang",
                 "class", "target", "category"}


def csv_dataset(path: str | None = None, *, delimiter: str | None = None, header: bool | None = None,
                text_column: int = 0, label_column: int = 1, on_bad_line: str = "error") -> PairDataset:
    """Any ``text,label`` CSV or TSV (UTF-8, quotes as in RFC 4180, header optional:
    detected when the first row's fields are words like text/name and label/language)."""
    check_on_bad_line(on_bad_line)
    if not path:
        path = os.environ.get("SEQKIT_DATA")
    if not path:
        raise DataError("dataset 'csv' needs a file: pass --data FILE.csv (or FILE.tsv)")
    path = expand(path)
    lines = iter_raw_lines(path)  # streamed; line ends kept for csv.reader
    first = next(lines, "")
    if delimiter is None:
        delimiter = "\t" if path.lower().endswith((".tsv", ".tab")) or ("\t" in first and "," not in first) else ","
    width = max(text_column, label_column) + 1
    reader = csv.reader(itertools.chain([first], lines), delimiter=delimiter, strict=True)
    builder, skips = CorpusBuilder(), SkipReport()
    texts, targets = [], []
    row_number = 0
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            end = reader.line_num
            span = f"line {start}" if end <= start else f"lines {start}-{end}"
            bad_line(skips, on_bad_line, f"{path}:{start}", f"malformed CSV ({exc}; {span} not read)",
                 "fix the quoting (a quote inside a quoted field is written \"\")")
            continue  # the reader restarts at the next line
        row_number += 1
        if not row or all(not f.strip() for f in row):
            continue  # blank line between records
        if row_number == 1 and (header or (header is None and len(row) >= width and
                                           row[text_column].strip().lower() in _HEADER_WORDS and
                                           row[label_column].strip().lower() in _HEADER_WORDS)):
            continue
        if len(row) != width and not (len(row) > width and all(not f.strip() for f in row[width:])):
            reason = "missing field" if len(row) < width else f"{len(row)} fields, expected {width}"
            bad_line(skips, on_bad_line, f"{path}:{start}", f"{reason} in {delimiter.join(row)[:60]!r}",
                 "quote fields that contain the delimiter")
            continue
        text, label = clean_text(row[text_column]), clean_text(row[label_column])
        if not text or not label:
            what = "text" if not text else "label"
            bad_line(skips, on_bad_line, f"{path}:{start}", f"empty {what}", f"fill in the {what}")
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
