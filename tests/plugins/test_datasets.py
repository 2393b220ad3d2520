"""Datasets on the real name2lang files, the course layout, CSV, downloads and bad input."""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest

from seqkit import registry
from seqkit.errors import DataError

MANIFEST = json.loads((Path(__file__).resolve().parents[2] / "data" / "name2lang.json").read_text("utf-8"))


def test_name2lang_directory_layout_matches_manifest(name2lang, names_path):
    assert len(name2lang) == MANIFEST["total"] == 20074
    assert name2lang.counts() == MANIFEST["counts"]
    assert name2lang.labels == sorted(MANIFEST["counts"])
    text, label = name2lang[0]
    assert isinstance(text, str) and label == "Arabic"
    assert len(set(zip(name2lang.texts, name2lang.targets))) == MANIFEST["facts"]["distinct_pairs"]
    raw = [line for f in sorted(names_path.glob("*.txt")) for line in f.read_text("utf-8").splitlines()]
    assert len(set(raw)) == MANIFEST["facts"]["distinct_names_raw"]
    assert len(set(name2lang.texts)) == MANIFEST["facts"]["distinct_names_stripped"]
    assert name2lang.texts == [line.strip() for line in raw]  # file order, surrounding blanks removed


def test_manifest_checksums_match_the_real_files(names_path):
    for fname, digest in MANIFEST["sha256"].items():
        assert hashlib.sha256((names_path / fname).read_bytes()).hexdigest() == digest


def test_course_layout_reads_the_same_pairs(name2lang, tmp_path):
    path = tmp_path / "name2lang.txt"
    path.write_text("".join(f"{t},{l}\n" for t, l in name2lang), encoding="utf-8")
    course = registry.datasets.create("name2lang", path=str(path))
    assert course.texts == name2lang.texts and course.targets == name2lang.targets
    assert course.labels == name2lang.labels


def test_names_with_commas_keep_their_comma(tmp_path):
    path = tmp_path / "n.txt"
    path.write_text("Abl, Jr.,German\nSmith,English\n", encoding="utf-8")
    ds = registry.datasets.create("name2lang", path=str(path))
    assert list(ds) == [("Abl, Jr.", "German"), ("Smith", "English")]


def test_seqkit_data_env_is_used(names_path, monkeypatch):
    monkeypatch.setenv("SEQKIT_DATA", str(names_path))
    assert len(registry.datasets.create("name2lang")) == 20074


def test_bom_crlf_and_unicode(tmp_path):
    d = tmp_path / "langs"
    d.mkdir()
    (d / "Japanese.txt").write_bytes("\ufeff山田\r\nSato\r\n".encode("utf-8"))
    (d / "Russian.txt").write_bytes("Иванов\nА́брамов\n".encode("utf-8"))
    ds = registry.datasets.create("name2lang", path=str(d))
    assert list(ds) == [("山田", "Japanese"), ("Sato", "Japanese"), ("Иванов", "Russian"), ("А́брамов", "Russian")]


@pytest.mark.parametrize("content, reason", [
    (b"Smith,English\n\nJones,English\n", "empty line"),
    (b"Smith English\n", "expected 'name,language'"),
    (b",English\n", "empty name"),
    (b"Smith,\n", "empty language"),
])
def test_course_layout_bad_lines_name_file_and_line(tmp_path, content, reason):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        registry.datasets.create("name2lang", path=str(path))
    msg = str(info.value)
    assert str(path) in msg and reason in msg and "--on-bad-line skip" in msg
    assert f"{path}:" in msg


def test_skip_reports_count_and_lines(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"Smith,English\nbroken\n\nJones,English\n")
    with pytest.warns(UserWarning, match=r"skipped 2 bad line\(s\).*bad.txt:2.*bad.txt:3"):
        ds = registry.datasets.create("name2lang", path=str(path), on_bad_line="skip")
    assert len(ds) == 2 and ds.skipped.count == 2


def test_invalid_utf8_reports_byte_offset(tmp_path):
    path = tmp_path / "x.txt"
    path.write_bytes(b"Smith,English\nM\xfcller,German\n")
    with pytest.raises(DataError, match=r"invalid UTF-8 at byte offset 15 \(line 2\)"):
        registry.datasets.create("name2lang", path=str(path))


def test_empty_and_missing_inputs(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(DataError, match="contains no"):
        registry.datasets.create("name2lang", path=str(tmp_path / "empty.txt"))
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(DataError, match="no <Language>.txt files"):
        registry.datasets.create("name2lang", path=str(tmp_path / "emptydir"))
    with pytest.raises(DataError, match="no such file or directory"):
        registry.datasets.create("name2lang", path=str(tmp_path / "missing"))


def _archive(names_path: Path, drop: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for f in sorted(names_path.glob("*.txt")):
            data = f.read_bytes()
            if f.name == drop:
                data = b"\n".join(data.splitlines()[:-1]) + b"\n"
            zf.writestr(f"data/names/{f.name}", data)
        zf.writestr("data/eng-fra.txt", "not names")
    return buf.getvalue()


def test_download_extracts_verifies_and_caches(names_path, tmp_path, monkeypatch):
    (tmp_path / "data.zip").write_bytes(_archive(names_path))
    monkeypatch.delenv("SEQKIT_DATA", raising=False)
    monkeypatch.delenv("SEQKIT_OFFLINE", raising=False)  # CI sets it; this "download" is a local file:// archive
    monkeypatch.setenv("SEQKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SEQKIT_NAME2LANG_URL", (tmp_path / "data.zip").as_uri())
    ds = registry.datasets.create("name2lang")
    assert len(ds) == 20074 and ds.counts() == MANIFEST["counts"]
    cached = tmp_path / "cache" / "name2lang"
    assert json.loads((cached / ".verified.json").read_text())["sha256_match"] == {f: True for f in MANIFEST["sha256"]}
    (tmp_path / "data.zip").unlink()  # second use: from the cache, no download
    assert len(registry.datasets.create("name2lang")) == 20074


def test_download_with_wrong_counts_is_refused(names_path, tmp_path, monkeypatch):
    (tmp_path / "data.zip").write_bytes(_archive(names_path, drop="Korean.txt"))
    monkeypatch.delenv("SEQKIT_DATA", raising=False)
    monkeypatch.delenv("SEQKIT_OFFLINE", raising=False)  # CI sets it; this "download" is a local file:// archive
    monkeypatch.setenv("SEQKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SEQKIT_NAME2LANG_URL", (tmp_path / "data.zip").as_uri())
    with pytest.raises(DataError, match=r"does not match its manifest \(Korean: 93 \(expected 94\)\).*--data"):
        registry.datasets.create("name2lang")
    assert not (tmp_path / "cache" / "name2lang").exists()


def test_offline_and_unreachable_download_say_to_pass_data(tmp_path, monkeypatch):
    monkeypatch.delenv("SEQKIT_DATA", raising=False)
    monkeypatch.setenv("SEQKIT_NAME2LANG_URL", (tmp_path / "data.zip").as_uri())
    (tmp_path / "data.zip").write_bytes(b"")  # reachable, so only SEQKIT_OFFLINE can stop it
    monkeypatch.setenv("SEQKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SEQKIT_OFFLINE", "1")
    with pytest.raises(DataError, match="SEQKIT_OFFLINE=1 forbids.*pass --data"):
        registry.datasets.create("name2lang")
    monkeypatch.delenv("SEQKIT_OFFLINE")
    monkeypatch.setenv("SEQKIT_NAME2LANG_URL", (tmp_path / "nothing-here.zip").as_uri())
    with pytest.raises(DataError, match="could not download.*--data"):
        registry.datasets.create("name2lang")


# -- csv --------------------------------------------------------------------------------
def test_csv_with_header_quotes_and_unicode(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('text,label\n"Smith, John",English\n山田,"Japanese"\n"O""Brien",Irish\n', encoding="utf-8")
    ds = registry.datasets.create("csv", path=str(path))
    assert list(ds) == [("Smith, John", "English"), ("山田", "Japanese"), ('O"Brien', "Irish")]
    assert ds.labels == ["English", "Irish", "Japanese"]


def test_tsv_without_header(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text("Smith\tEnglish\nMüller\tGerman, Swiss\n", encoding="utf-8")
    ds = registry.datasets.create("csv", path=str(path))
    assert list(ds) == [("Smith", "English"), ("Müller", "German, Swiss")]


@pytest.mark.parametrize("content, reason", [
    ("a,b\nSmith\n", "missing field"),
    ("Smith,English,extra\n", "3 fields, expected 2"),
    ('"Smith,English\nJones,English\n', "malformed CSV"),
    ("Smith,\n", "empty label"),
])
def test_csv_bad_rows(tmp_path, content, reason):
    path = tmp_path / "d.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=reason) as info:
        registry.datasets.create("csv", path=str(path))
    assert f"{path}:" in str(info.value)


def test_csv_needs_a_path(monkeypatch):
    monkeypatch.delenv("SEQKIT_DATA", raising=False)
    with pytest.raises(DataError, match="needs a file: pass --data"):
        registry.datasets.create("csv")
