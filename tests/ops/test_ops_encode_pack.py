"""seqkit.ops.encode_pack / encode_pack_corpus against torch's pack_padded_sequence.

Every test runs on both backends (the C++ op and the pure-PyTorch reference). The
reference is the course's ``batched_name_rep`` one-hot encoding + pack_padded_sequence.
"""
from __future__ import annotations

import string
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from conftest import cpp_available, names_dir  # noqa: F401  (the backend fixture lives there too)
from seqkit import ops

DATA = names_dir() or Path(__file__).resolve().parents[3] / "shared" / "data" / "names"
ALL_LETTERS = string.ascii_letters + " .,;'"




def batched_rep(names, alphabet):
    """The course's batched_name_rep, for any alphabet (index = alphabet.find(ch))."""
    rep = torch.zeros(max(len(n) for n in names), len(names), len(alphabet))
    for name_index, name in enumerate(names):
        for letter_index, letter in enumerate(name):
            rep[letter_index][name_index][alphabet.find(letter)] = 1
    return rep


def torch_pack(names, alphabet, *, stable_order=False):
    rep = batched_rep(names, alphabet)
    lengths = torch.tensor([len(n) for n in names])
    if not stable_order:
        return pack_padded_sequence(rep, lengths, enforce_sorted=False)
    _, order = torch.sort(lengths, descending=True, stable=True)
    p = pack_padded_sequence(rep[:, order], lengths[order], enforce_sorted=True)
    return type(p)(p.data, p.batch_sizes, order, torch.argsort(order))


def assert_packed_equal(ours, names, alphabet, one_hot):
    """Field by field against torch (stable order), and content against enforce_sorted=False."""
    ref = torch_pack(names, alphabet, stable_order=True)
    expected = ref.data if one_hot else ref.data.argmax(1)
    assert ours.data.dtype == (torch.float32 if one_hot else torch.int64)
    assert torch.equal(ours.data, expected)
    assert ours.batch_sizes.dtype == torch.int64 and ours.batch_sizes.device.type == "cpu"
    assert torch.equal(ours.batch_sizes, ref.batch_sizes)
    assert torch.equal(ours.sorted_indices, ref.sorted_indices)
    assert torch.equal(ours.unsorted_indices, ref.unsorted_indices)
    # torch's own enforce_sorted=False: same batch_sizes, same sorted lengths, same content
    # once unpacked; its sort is not stable (batches >= 17 with tied lengths), so only
    # where it happens to agree on the order can sorted_indices be compared.
    tp = torch_pack(names, alphabet)
    assert torch.equal(ours.batch_sizes, tp.batch_sizes)
    ours_f = ours if one_hot else type(ours)(
        torch.nn.functional.one_hot(ours.data, len(alphabet)).float(), *ours[1:])
    pad_ours, len_ours = pad_packed_sequence(ours_f)
    pad_torch, len_torch = pad_packed_sequence(tp)
    assert torch.equal(pad_ours, pad_torch) and torch.equal(len_ours, len_torch)
    if torch.equal(tp.sorted_indices, ours.sorted_indices):
        assert torch.equal(ours_f.data, tp.data)


def load_names():
    if not DATA.is_dir():
        pytest.skip(f"dataset not found at {DATA}")
    names = []
    for f in sorted(DATA.glob("*.txt")):
        names += [line.strip() for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    return names


def ascii_fold(s):
    return "".join(c for c in unicodedata.normalize("NFD", s)
                   if unicodedata.category(c) != "Mn" and c in ALL_LETTERS)


@pytest.mark.parametrize("one_hot", [False, True])
def test_real_names_match_course_encoding(backend, one_hot):
    names = [n for n in map(ascii_fold, load_names()) if n]
    rng = np.random.default_rng(0)
    for _ in range(3):
        batch = [names[i] for i in rng.choice(len(names), 256, replace=False)]
        assert_packed_equal(ops.encode_pack(batch, ALL_LETTERS, one_hot=one_hot), batch, ALL_LETTERS, one_hot)


def test_real_unicode_names(backend):
    names = load_names()[::37]
    alphabet = "".join(sorted(set("".join(names))))
    assert any(ord(c) > 127 for c in alphabet)
    assert_packed_equal(ops.encode_pack(names, alphabet), names, alphabet, False)


def test_small_batch_equals_torch_field_by_field(backend):
    # below 17 sequences torch's sort is stable, so even tied lengths agree exactly
    names = ["ab", "c", "de", "fgh", "i", "jk"]
    ours = ops.encode_pack(names, ALL_LETTERS, one_hot=True)
    tp = torch_pack(names, ALL_LETTERS)
    for a, b in zip(ours, tp):
        assert torch.equal(a, b)


texts_st = st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(texts=texts_st, one_hot=st.booleans(), extra=st.text(max_size=5))
def test_hypothesis_random_unicode(texts, one_hot, extra):
    for b in ("cpp", "reference") if cpp_available() else ("reference",):
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("SEQKIT_BACKEND", b)
            alphabet = "".join(dict.fromkeys(extra + "".join(texts)))
            assert_packed_equal(ops.encode_pack(texts, alphabet, one_hot=one_hot), texts, alphabet, one_hot)


def test_alphabet_as_sequence_and_duplicates(backend):
    # a repeated character maps to its first index, like str.find
    p = ops.encode_pack(["aba"], ["a", "b", "a"])
    assert p.data.tolist() == [0, 1, 0]
    with pytest.raises(ValueError, match="alphabet\\[1\\]"):
        ops.encode_pack(["a"], ["a", "bc"])


def test_unknown_character_error_names_text_position_and_char(backend):
    with pytest.raises(ValueError) as info:
        ops.encode_pack(["abc", "aéb"], "abc")
    msg = str(info.value)
    assert "texts[1]" in msg and "'aéb'" in msg and "position 1" in msg and "'é'" in msg and "U+00E9" in msg


def test_unknown_index(backend):
    p = ops.encode_pack(["a€b"], "abX", unknown=2)
    assert p.data.tolist() == [0, 2, 1]
    with pytest.raises(ValueError, match="unknown=5"):
        ops.encode_pack(["a"], "ab", unknown=5)


def test_empty_text_error_names_index(backend):
    with pytest.raises(ValueError, match=r"texts\[2\] is empty"):
        ops.encode_pack(["a", "b", "", "c"], "abc")
    with pytest.raises(ValueError, match="texts is empty"):
        ops.encode_pack([], "abc")


def test_drop_empty_returns_kept_and_warns(backend):
    texts = ["", "ab", "", "c", "abc"]
    with pytest.warns(UserWarning, match=r"indices \[0, 2\]"):
        packed, kept = ops.encode_pack(texts, "abc", drop_empty=True)
    assert kept.tolist() == [1, 3, 4]
    assert_packed_equal(packed, [texts[i] for i in kept], "abc", False)


def test_non_str_item_is_a_type_error(backend):
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        ops.encode_pack(["a", 3], "abc")


def test_iterable_input(backend):
    p = ops.encode_pack((t for t in ["ab", "c"]), "abc")
    assert p.batch_sizes.tolist() == [2, 1]


# -- pre-encoded corpus ------------------------------------------------------------------

def corpus_of(texts, alphabet, sym_dtype, off_dtype):
    codes = [alphabet.index(c) for t in texts for c in t]
    offsets = np.cumsum([0] + [len(t) for t in texts]).astype(off_dtype)
    return np.asarray(codes, dtype=sym_dtype), offsets


@pytest.mark.parametrize("sym_dtype", [np.uint8, np.int16, np.uint16, np.int32, np.int64])
@pytest.mark.parametrize("off_dtype", [np.int32, np.int64])
def test_corpus_equals_encode_pack(backend, sym_dtype, off_dtype):
    texts = ["hello", "a", "seq", "kit", "packed", "xy", "a", "zz", "abc"] * 3
    alphabet = string.ascii_lowercase
    symbols, offsets = corpus_of(texts, alphabet, sym_dtype, off_dtype)
    rows = np.array([3, 0, 7, 7, 12, 25, 1, 4, 2, 20, 19, 18, 17, 16, 15, 14, 13, 5, 6])
    batch = [texts[r] for r in rows]
    for one_hot in (False, True):
        p = ops.encode_pack_corpus(symbols, offsets, rows, num_symbols=26, one_hot=one_hot)
        q = ops.encode_pack(batch, alphabet, one_hot=one_hot)
        for a, b in zip(p, q):
            assert torch.equal(a, b)
    # torch tensors work too, and num_symbols is optional for indices
    p = ops.encode_pack_corpus(torch.from_numpy(symbols.astype(np.int64)), torch.from_numpy(offsets),
                               torch.from_numpy(rows))
    assert torch.equal(p.data, ops.encode_pack(batch, alphabet).data)


def test_corpus_errors(backend):
    symbols, offsets = corpus_of(["ab", "", "c"], "abc", np.int64, np.int64)
    with pytest.raises(ValueError, match=r"rows\[1\] = 1 is an empty text"):
        ops.encode_pack_corpus(symbols, offsets, [0, 1])
    with pytest.raises(IndexError, match=r"rows\[1\] = 3"):
        ops.encode_pack_corpus(symbols, offsets, [0, 3])
    with pytest.raises(ValueError, match="symbol 2 at position 0"):
        ops.encode_pack_corpus(symbols, offsets, [2], num_symbols=2)
    with pytest.raises(ValueError, match="num_symbols"):
        ops.encode_pack_corpus(symbols, offsets, [2], one_hot=True)


def test_opcheck_corpus():
    if not cpp_available():
        pytest.skip("compiled ops unavailable")
    symbols = torch.tensor([0, 1, 2, 1, 0, 2, 2], dtype=torch.int32)
    offsets = torch.tensor([0, 2, 3, 7])
    rows = torch.tensor([2, 0, 1])
    for one_hot in (False, True):
        torch.library.opcheck(torch.ops.seqkit.encode_pack_corpus.default,
                              (symbols, offsets, rows, 3, one_hot))


# -- backend selection (seqkit.ops is the only place that chooses) --------------------------

def test_fallback_to_reference_warns_once(monkeypatch):
    import warnings

    from seqkit.ops import extension as _extension

    monkeypatch.setattr(ops.runtime, "_ext", None)
    monkeypatch.setattr(ops.runtime, "_ext_tried", False)
    monkeypatch.setattr(_extension, "load", lambda: (None, "no C++ compiler (simulated)"))
    monkeypatch.delenv("SEQKIT_BACKEND", raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert ops.backend() == "reference"
        assert ops.backend() == "reference"
        assert ops.encode_pack(["ab", "b"], "ab").data.tolist() == [0, 1, 1]
    assert sum("compiled ops unavailable" in str(w.message) for w in caught) == 1
    monkeypatch.setenv("SEQKIT_BACKEND", "cpp")
    with pytest.raises(RuntimeError, match="simulated"):
        ops.backend()
    monkeypatch.setenv("SEQKIT_BACKEND", "fast")
    with pytest.raises(ValueError, match="SEQKIT_BACKEND"):
        ops.backend()


def test_built_extension_matches_sources(tmp_path):
    from seqkit.ops import extension as _extension

    blob = tmp_path / "fake.so"
    blob.write_bytes(b"\x00junk SEQKIT_SOURCE_HASH=0123abcd; more")
    assert _extension.built_hash(str(blob)) == "0123abcd"
    if not cpp_available():
        pytest.skip("compiled ops unavailable")
    # whatever was loaded (installed or JIT-built) was built from the current csrc/
    if _extension.CSRC.is_dir():
        assert ops.runtime._ext.source_hash == _extension.source_hash()
