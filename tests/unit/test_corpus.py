"""The corpus representation (flat symbol buffer + offsets) against plain Python reading,
its memory bound, streaming reads across chunk boundaries, and training on it."""
from __future__ import annotations

import json
import random
from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from seqkit.data import files as seqkit_data
from seqkit import registry
from seqkit.data.corpus import Corpus
from seqkit.data import PairDataset, iter_file_lines, iter_raw_lines
from seqkit.errors import DataError

# any Unicode that can be stored as UTF-8 (no surrogates), in names without line ends
NAME_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n")
names = st.text(NAME_CHARS, min_size=1, max_size=12).map(str.strip).filter(bool)
labels = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n,"), min_size=1,
                 max_size=6).map(str.strip).filter(bool)


def plain_pairs(path) -> list[tuple[str, str]]:
    """The reference reading of a name,language file: Python's universal-newline text mode."""
    with open(path, encoding="utf-8-sig", newline=None) as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    out = []
    for line in lines:
        name, _, label = line.rpartition(",")
        out.append((name.strip(), label.strip()))
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.text(st.characters(blacklist_categories=("Cs",)), max_size=8), labels), min_size=1,
                max_size=40))
def test_corpus_matches_the_python_lists(pairs):
    texts, targets = [t for t, _ in pairs], [lab for _, lab in pairs]
    ds = PairDataset(texts, targets)
    assert list(ds) == pairs and ds.texts == texts and ds.targets == targets
    assert [ds[i] for i in range(-len(ds), 0)] == pairs
    assert ds.labels == sorted(set(targets))
    assert ds.lengths().tolist() == [len(t) for t in texts]
    assert ds.label_indices().tolist() == [ds.labels.index(lab) for lab in targets]
    assert ds.counts() == dict(Counter(targets))
    rows = np.random.default_rng(len(pairs)).integers(len(pairs), size=2 * len(pairs))
    sub = ds.subset(rows).subset(np.arange(len(rows))[::-1])
    assert list(sub) == [pairs[i] for i in rows[::-1]] and sub.labels == ds.labels
    assert sub.__getitems__([0, len(sub) - 1]) == [sub[0], sub[-1]]
    h = ds.text_hashes()
    for i in range(len(texts)):
        for j in range(len(texts)):
            assert (h[i] == h[j]) == (texts[i] == texts[j])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(names, labels), min_size=1, max_size=30), st.sampled_from(["\n", "\r\n", "\r"]),
       st.booleans(), st.integers(1, 64))
def test_streamed_file_reads_like_plain_python(tmp_path_factory, pairs, newline, bom, chunk):
    path = tmp_path_factory.mktemp("c") / "pairs.txt"
    path.write_text(newline.join(f"{t},{lab}" for t, lab in pairs) + newline, encoding="utf-8-sig" if bom else "utf-8",
                    newline="")
    expect = plain_pairs(path)
    assert expect == pairs
    got = [line for _, lines in iter_file_lines(str(path), chunk) for line in lines]
    assert [tuple(p.strip() for p in line.rpartition(",")[::2]) for line in got] == pairs
    assert "".join(iter_raw_lines(str(path), chunk)) == path.read_bytes().decode("utf-8-sig")
    ds = registry.datasets.create("name2lang", path=str(path))
    assert list(ds) == expect


class _ReadLog:
    """Wraps the file object the readers open, recording every read size."""

    def __init__(self, f, log):
        self.f, self.log = f, log

    def read(self, n=-1):
        self.log.append(n)
        return self.f.read(n)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def test_loading_streams_in_chunks_across_multibyte_boundaries(tmp_path, monkeypatch):
    rnd = random.Random(0)
    alphabet = "abcé山田Иван🙂\u05d0\u0301"  # 1-, 2-, 3- and 4-byte UTF-8 characters
    pairs = [("".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 15))).strip() or "x",
              rnd.choice(["Arabic", "Japanese", "Русский"])) for _ in range(5000)]
    path = tmp_path / "big.txt"
    path.write_text("".join(f"{t},{lab}\n" for t, lab in pairs), encoding="utf-8")
    raw = path.read_bytes()
    chunk = 4099  # odd: boundaries fall inside multi-byte characters
    assert len(raw) > 20 * chunk
    reads: list[int] = []
    real_open = seqkit_data._open
    monkeypatch.setattr(seqkit_data, "_open", lambda p: _ReadLog(real_open(p), reads))
    monkeypatch.setattr(seqkit_data, "CHUNK_SIZE", chunk)
    ds = registry.datasets.create("name2lang", path=str(path))
    assert list(ds) == plain_pairs(path) == pairs
    assert reads and max(reads) == chunk and len(reads) >= len(raw) // chunk  # never the whole file at once
    # a chunk boundary inside a multi-byte character really occurred
    assert any((raw[k] & 0xC0) == 0x80 for k in range(chunk, len(raw), chunk))


def test_invalid_utf8_far_into_a_streamed_file_names_its_byte_offset(tmp_path, monkeypatch):
    good = "".join(f"Name{i},English\n" for i in range(3000)).encode()
    bad = good + "Mü".encode()[:-1] + b"\xff" + b"ller,German\n"
    path = tmp_path / "x.txt"
    path.write_bytes(b"\xef\xbb\xbf" + bad)
    monkeypatch.setattr(seqkit_data, "CHUNK_SIZE", 1000)
    offset = 3 + bad.index(b"\xff") - 1  # the lone lead byte of "ü"
    with pytest.raises(DataError, match=rf"invalid UTF-8 at byte offset {offset} \(line 3001\)"):
        registry.datasets.create("name2lang", path=str(path))


def _random_corpus_file(path, n, alphabet, seed=0):
    rng = np.random.default_rng(seed)
    chars = np.array(list(alphabet), dtype=object)
    lens = rng.integers(1, 16, size=n)
    langs = np.array([f",L{k}\n" for k in range(18)], dtype=object)
    with open(path, "w", encoding="utf-8") as f:
        for start in range(0, n, 50_000):
            m = min(50_000, n - start)
            idx = rng.integers(len(chars), size=int(lens[start:start + m].sum()))
            flat = "".join(chars[idx])
            bounds = np.concatenate(([0], np.cumsum(lens[start:start + m])))
            lines = [flat[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
            f.write("".join(np.array(lines, dtype=object) + langs[rng.integers(18, size=m)]))
    return int(lens.sum())


@pytest.mark.parametrize("alphabet, dtype", [
    ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-'áéíóúüñçßøå", np.uint8),
    ("".join(chr(c) for c in range(0x4E00, 0x4E00 + 300)) + "🙂😀", np.uint16),  # > 256 symbols: 2 bytes
])
def test_memory_bound_on_a_generated_corpus(tmp_path, alphabet, dtype):
    n = 200_000
    path = tmp_path / "gen.txt"
    chars = _random_corpus_file(path, n, alphabet)
    ds = registry.datasets.create("name2lang", path=str(path))
    c = ds.corpus
    assert len(ds) == n and c.num_chars == chars and c.symbols.dtype == dtype
    # exact: one symbol per character, int64 offsets, int16 label codes, the symbol table
    assert c.nbytes == chars * np.dtype(dtype).itemsize + 8 * (n + 1) + 2 * n + 4 * len(set(alphabet))
    assert c.nbytes <= 2 * chars + 16 * n
    assert all(not isinstance(v, (list, tuple, str)) or len(v) < 100 for v in vars(c).values())  # no per-name objects


@pytest.mark.parametrize("collator", ["pack", "fused-pack"])
def test_dataloader_batches_equal_item_by_item(tmp_path, collator):
    path = tmp_path / "gen.txt"
    _random_corpus_file(path, 3000, "abcdeéИ山🙂")
    ds = registry.datasets.create("name2lang", path=str(path)).subset(np.arange(2999, -1, -3))
    enc = registry.encoders.create("index").fit(ds.texts)
    col = registry.collators.create(collator, enc, labels=ds.labels)
    batches = [[5, 0, 999], [1, 2, 3, 4]]
    for batch, idx in zip(DataLoader(ds, batch_sampler=batches, collate_fn=col), batches):
        ref = col([ds[i] for i in idx])
        assert torch.equal(batch.inputs.data, ref.inputs.data) and torch.equal(batch.targets, ref.targets)


def test_text_view_behaves_like_a_list():
    texts = [f"n{i}" for i in range(70_000)]  # more than one decoding chunk when iterating
    ds = PairDataset(texts, ["a", "b"] * 35_000)
    view = ds.texts
    assert len(view) == 70_000 and view[-1] == "n69999" and view[3:9:2] == texts[3:9:2]
    assert list(view) == texts and view == texts and view != texts[:-1] and view != "n0"
    with pytest.raises(IndexError):
        view[70_000]
    assert ds.subset([2, 0]).texts == ["n2", "n0"] and ds.subset([2, 0]).targets == ["a", "a"]


def test_corpus_from_texts_round_trips_odd_strings():
    texts = ["", "a", "\ud800x", "🙂" * 3, "e\u0301"]  # a lone surrogate survives a Python-built corpus
    c = Corpus.from_texts(texts, ["x"] * 5)
    assert c.texts(np.arange(5)) == texts and [c.text(i) for i in range(5)] == texts


def test_training_through_the_engine_on_a_streamed_corpus(tmp_path):
    from seqkit.engine import RunConfig, train

    path = tmp_path / "gen.txt"
    rnd = random.Random(1)
    lines = [("".join(rnd.choice("aeiou" if lab == "Vowel" else "bcdfg") for _ in range(rnd.randint(2, 8))), lab)
             for lab in ("Vowel", "Consonant") for _ in range(300)]
    rnd.shuffle(lines)
    path.write_text("".join(f"{t},{lab}\n" for t, lab in lines), encoding="utf-8")
    out = tmp_path / "run"
    metrics = train(RunConfig(data=str(path), epochs=2, hidden_size=8, embedding_dim=8, batch_size=32, out=str(out),
                              quiet=True, lr=1e-2))
    assert metrics["data"]["examples"] == 600 and metrics["split"]["train"] == 480
    assert metrics["top1"] > 0.9  # the two classes differ in every character
    assert json.loads((out / "metrics.json").read_text())["top1"] == metrics["top1"]
