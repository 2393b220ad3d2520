"""Sequence metrics: edit distance, token (phoneme) error rate, sequence (word) error rate.

- :func:`edit_distance`: Levenshtein distance between two token sequences (insertions,
  deletions and substitutions cost 1), by the usual dynamic programme over one row.
- :func:`sequence_metrics`: corpus figures over ``(prediction, references)`` pairs:
  ``per`` = total edits / total reference tokens (the token error rate, "phoneme error
  rate" in grapheme-to-phoneme), ``wer`` = fraction of sequences not exactly right (the
  "word error rate" of G2P, where a word is one sequence), ``exact_match`` = 1 - ``wer``.
  A source with several valid references (CMUdict alternates) is scored against the
  closest one: it is right if it equals any, and its edits are the fewest over them,
  counted against that reference's length.
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence


def edit_distance(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Levenshtein distance between sequences ``a`` and ``b`` (unit costs)."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        cur = [i]
        for j, y in enumerate(b, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def best_reference(prediction: Sequence[Hashable], references: Iterable[Sequence[Hashable]]) -> tuple[int, int]:
    """``(edits, reference_length)`` against the closest of ``references`` (ties: the shorter edit count,
    then the longer reference)."""
    best = None
    for ref in references:
        cand = (edit_distance(prediction, ref), -len(ref))
        if best is None or cand < best:
            best = cand
    if best is None:
        raise ValueError("no reference sequence given")
    return best[0], -best[1]


def sequence_metrics(pairs: Iterable[tuple[Sequence[Hashable], Sequence[Sequence[Hashable]]]]) -> dict[str, float]:
    """``per``, ``wer``, ``exact_match`` (fractions) and counts over ``(prediction, references)``."""
    edits = ref_tokens = wrong = n = 0
    for prediction, references in pairs:
        e, length = best_reference(prediction, references)
        edits += e
        ref_tokens += length
        wrong += e > 0
        n += 1
    return {"per": edits / max(1, ref_tokens), "wer": wrong / max(1, n), "exact_match": (n - wrong) / max(1, n),
            "sequences": n, "reference_tokens": ref_tokens, "token_edits": edits}
