"""The built-in readers (name2lang, csv, pairs, cmudict) under hostile input, on real files:
named pipes, sockets, devices and broken links where data is expected, file names that are
not UTF-8 or hold control characters, the empty path, over-long texts (``max_length``,
``truncate``), files a data directory does not read and CSV rows dropped as holding no data.
Every refusal is one ``DataError`` line naming the file; nothing hangs; nothing is dropped
without a report. The property tests at the end read arbitrary bytes and arbitrary file names.
"""
from __future__ import annotations

import csv
import io
import os
import re
import socket
import threading
import unicodedata
import warnings

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from seqkit import registry
from seqkit.data import PairDataset, SkipReport
from seqkit.errors import ConfigError, DataError

DATASETS = ["name2lang", "csv", "pairs", "cmudict"]
GOOD = {"name2lang": b"Smith,English\n", "csv": b"Smith,English\n", "pairs": b"cat\tk a t\n",
        "cmudict": b"CAT K AE1 T\n"}


def _create(dataset: str, path, **options):
    return registry.datasets.create(dataset, path=None if path is None else os.fsdecode(path), **options)


def _quietly(dataset: str, path, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _create(dataset, path, **options)


def _shown(path) -> str:
    """A path as the messages show it: bytes that are not UTF-8 as \\xNN, control
    characters and line/paragraph separators escaped (so a message stays one line)."""
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    return "".join(c.encode("unicode_escape").decode("ascii")
                   if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)


def _one_line(msg: str) -> None:
    assert "\n" not in msg and "\r" not in msg, msg
    msg.encode("utf-8")  # no lone surrogate: the line can be printed and written anywhere


def _no_hang(fn, pipes=(), timeout: float = 10.0):
    """``fn()``'s result (or the exception it raised); fails when it blocks for ``timeout``
    seconds, after unblocking a reader stuck opening one of ``pipes``."""
    out: dict = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        for p in pipes:  # a writer appearing and leaving gives the stuck reader an end of file
            try:
                os.close(os.open(p, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
        t.join(5)
        pytest.fail(f"the reader blocked for {timeout} s (on a named pipe?)")
    if "error" in out:
        raise out["error"]
    return out["value"]


# -- named pipes, sockets, devices, broken links ------------------------------------------------------------
def test_named_pipe_in_a_data_directory_is_refused_without_hanging(tmp_path):
    d = tmp_path / "names"
    d.mkdir()
    (d / "English.txt").write_text("Smith\n", encoding="utf-8")
    os.mkfifo(d / "German.txt")
    with pytest.raises(DataError) as info:
        _no_hang(lambda: _create("name2lang", d), pipes=[d / "German.txt"])
    msg = str(info.value)
    _one_line(msg)
    assert f"{d / 'German.txt'}: is a named pipe, not a regular file" in msg and "move it out" in msg, msg


def test_named_pipe_without_the_txt_extension_is_refused_too(tmp_path):
    d = tmp_path / "names"
    d.mkdir()
    (d / "English.txt").write_text("Smith\n", encoding="utf-8")
    os.mkfifo(d / "stream")
    with pytest.raises(DataError, match=re.escape(f"{d / 'stream'}: is a named pipe")):
        _no_hang(lambda: _create("name2lang", d), pipes=[d / "stream"])


@pytest.mark.parametrize("dataset", DATASETS)
def test_named_pipe_given_as_data_is_refused_for_what_it_is(tmp_path, dataset):
    fifo = tmp_path / "data.fifo"
    os.mkfifo(fifo)
    with pytest.raises(DataError) as info:
        _no_hang(lambda: _create(dataset, fifo), pipes=[fifo])
    msg = str(info.value)
    _one_line(msg)
    assert f"{fifo}: is a named pipe, not a regular file" in msg and "no such file" not in msg, msg
    assert "regular" in msg.split(";", 1)[1], msg  # the fix: give it a regular file


def test_named_pipe_with_a_writer_waiting_is_still_refused(tmp_path):
    fifo = tmp_path / "data.fifo"
    os.mkfifo(fifo)
    # a writer blocked in open() until a reader appears: reading would succeed, but a pipe is still refused
    writer = threading.Thread(target=lambda: _write_pipe(fifo), daemon=True)
    writer.start()
    with pytest.raises(DataError, match="is a named pipe"):
        _no_hang(lambda: _create("csv", fifo), pipes=[fifo])
    _release_writer(fifo)
    writer.join(5)


def _write_pipe(fifo) -> None:
    try:
        with open(fifo, "wb") as f:
            f.write(b"Smith,English\n")
    except OSError:
        pass


def _release_writer(fifo) -> None:
    try:
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        os.read(fd, 100)
        os.close(fd)
    except OSError:
        pass


def test_socket_and_device_in_a_data_directory_are_refused(tmp_path):
    d = tmp_path / "names"
    d.mkdir()
    (d / "English.txt").write_text("Smith\n", encoding="utf-8")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(d / "Live.txt"))
        with pytest.raises(DataError, match=re.escape(f"{d / 'Live.txt'}: is a socket, not a regular file")):
            _create("name2lang", d)
    finally:
        sock.close()
    os.unlink(d / "Live.txt")
    os.symlink("/dev/zero", d / "Zero.txt")  # would never end
    with pytest.raises(DataError, match=re.escape(f"{d / 'Zero.txt'}: is a character device, not a regular file")):
        _no_hang(lambda: _create("name2lang", d))


@pytest.mark.parametrize("dataset", DATASETS)
def test_devices_given_as_data_are_refused(dataset):
    for dev in ("/dev/null", "/dev/zero"):
        with pytest.raises(DataError) as info:
            _no_hang(lambda: _create(dataset, dev))
        _one_line(str(info.value))
        assert f"{dev}: is a character device, not a regular file" in str(info.value)


def test_broken_symbolic_links_are_named(tmp_path):
    d = tmp_path / "names"
    d.mkdir()
    (d / "English.txt").write_text("Smith\n", encoding="utf-8")
    os.symlink(tmp_path / "gone.txt", d / "German.txt")
    with pytest.raises(DataError, match=re.escape(f"{d / 'German.txt'}: is a broken symbolic link")):
        _create("name2lang", d)
    link = tmp_path / "data.csv"
    os.symlink(tmp_path / "gone.csv", link)
    for dataset in DATASETS:
        with pytest.raises(DataError, match=re.escape(f"{link}: is a broken symbolic link")):
            _create(dataset, link)


def test_symbolic_links_to_regular_files_are_read(tmp_path):
    (tmp_path / "real.txt").write_text("Smith\n", encoding="utf-8")
    d = tmp_path / "names"
    d.mkdir()
    os.symlink(tmp_path / "real.txt", d / "English.txt")
    assert list(_create("name2lang", d)) == [("Smith", "English")]


# -- the empty path ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dataset", DATASETS)
def test_empty_path_is_refused_not_replaced_by_seqkit_data(tmp_path, monkeypatch, dataset):
    (tmp_path / "d.txt").write_bytes(GOOD[dataset])
    monkeypatch.setenv("SEQKIT_DATA", str(tmp_path / "d.txt"))
    with pytest.raises(DataError) as info:
        registry.datasets.create(dataset, path="")
    msg = str(info.value)
    _one_line(msg)
    assert "empty path" in msg and "--data" in msg, msg


# -- file names ----------------------------------------------------------------------------------------------
def test_data_file_name_that_is_not_utf8_is_refused(tmp_path):
    d = tmp_path / "names"
    d.mkdir()
    (d / "English.txt").write_text("Smith\n", encoding="utf-8")
    with open(os.path.join(os.fsencode(d), b"Fran\xe7ais.txt"), "wb") as f:  # Latin-1 "ç"
        f.write(b"Dupont\n")
    with pytest.raises(DataError) as info:
        _create("name2lang", d)
    msg = str(info.value)
    _one_line(msg)
    assert f"{d}/Fran\\xe7ais.txt: file name is not valid UTF-8" in msg and "rename it" in msg, msg


def test_other_files_whose_name_is_not_utf8_are_reported_not_read(tmp_path):
    d = tmp_path / "names"
    d.mkdir()
    (d / "English.txt").write_text("Smith\n", encoding="utf-8")
    (d / os.fsdecode(b"Notiz f\xfcr.md")).write_bytes(b"x")
    with pytest.warns(UserWarning) as caught:
        ds = _create("name2lang", d)
    assert list(ds) == [("Smith", "English")]
    assert ds.skipped.unread == 1 and "Notiz f\\xfcr.md: not read" in ds.skipped.unread_examples[0]
    for w in caught:
        _one_line(str(w.message))


def test_file_names_with_line_breaks_keep_messages_on_one_line(tmp_path):
    d = tmp_path / "names"
    d.mkdir()
    (d / "Eng\nlish.txt").write_bytes(b"Smith\n\n")
    with pytest.raises(DataError) as info:
        _create("name2lang", d)
    _one_line(str(info.value))
    assert f"{d}/Eng\\nlish.txt:2: empty or whitespace-only name" in str(info.value)
    ds = _quietly("name2lang", d, on_bad_line="skip")
    assert list(ds) == [("Smith", "Eng\nlish")]  # the language is the file name, as written
    path = tmp_path / "a\u2028b\r.csv"
    path.write_bytes(b"Smith\n")
    with pytest.raises(DataError) as info:
        _create("csv", path)
    _one_line(str(info.value))
    assert f"{tmp_path}/a\\u2028b\\r.csv:1: missing field" in str(info.value)


def test_language_is_the_file_name_without_surrounding_blanks(tmp_path):
    d = tmp_path / "names"
    d.mkdir()
    (d / " English .txt").write_text("Smith\n", encoding="utf-8")
    assert list(_create("name2lang", d)) == [("Smith", "English")]


# -- lone surrogates never reach a dataset -------------------------------------------------------------------
def test_lone_surrogates_are_refused_in_texts_and_labels():
    with pytest.raises(DataError, match=r"mine: text 1 'Fran\\udce7ais' holds a lone surrogate \(U\+DCE7\)"):
        PairDataset(["Smith", "Fran\udce7ais"], ["English", "French"], source="mine")
    with pytest.raises(DataError, match=r"label 'Fran\\udce7ais' holds a lone surrogate"):
        PairDataset(["Smith", "Dupont"], ["English", "Fran\udce7ais"])
    from seqkit_plugins.seq2seq.datasets import SequencePairs

    with pytest.raises(DataError, match="lone surrogate"):
        SequencePairs(["cat", "d\ud800g"], [["K"], ["D"]])
    with pytest.raises(DataError, match="lone surrogate"):
        SequencePairs(["cat"], [["K\udc80"]])


# -- text length ---------------------------------------------------------------------------------------------
def _long_files(tmp_path, n: int) -> dict[str, str]:
    long = "A" * n
    files = {
        "name2lang": ("p.txt", f"Smith,English\n{long},English\nJones,English\n"),
        "name2lang-dir": ("d/English.txt", f"Smith\n{long}\nJones\n"),
        "csv": ("c.csv", f"Smith,English\n{long},English\nJones,English\n"),
        "pairs": ("p.tsv", f"cat\tk a t\n{long}\tl o n g\ndog\td o g\n"),
        "cmudict": ("c.dict", f"CAT K AE1 T\n{long} L AO1 NG\nDOG D AO1 G\n"),
    }
    out = {}
    for key, (rel, body) in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(body, encoding="utf-8")
        out[key] = str(p.parent if key == "name2lang-dir" else p)
    return out


LONG_CASES = ["name2lang", "name2lang-dir", "csv", "pairs", "cmudict"]


@pytest.mark.parametrize("key", LONG_CASES)
def test_text_longer_than_max_length_is_a_bad_line(tmp_path, key):
    dataset = key.split("-")[0]
    path = _long_files(tmp_path, 1001)[key]
    where = f"{path}/English.txt" if key.endswith("-dir") else path
    with pytest.raises(DataError) as info:
        registry.datasets.create(dataset, path=path)
    assert str(info.value) == (f"{where}:2: text of 1001 characters is longer than --max-length 1000; shorten it, "
                               f"raise --max-length, pass --truncate to cut it, or pass --on-bad-line skip")
    with pytest.warns(UserWarning, match=r"skipped 1 bad line\(s\): .*:2: text of 1001 characters"):
        ds = registry.datasets.create(dataset, path=path, on_bad_line="skip")
    assert len(ds) == 2 and ds.skipped.count == 1
    assert len(registry.datasets.create(dataset, path=path, max_length=None)) == 3
    assert len(registry.datasets.create(dataset, path=path, max_length=1001)) == 3


@pytest.mark.parametrize("key", LONG_CASES)
def test_truncate_cuts_long_texts_and_reports_them_once(tmp_path, key):
    dataset = key.split("-")[0]
    path = _long_files(tmp_path, 2500)[key]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = registry.datasets.create(dataset, path=path, max_length=1000, truncate=True)
    assert len(ds) == 3 and ds[1][0] == "A" * 1000 and ds.skipped.count == 0
    assert ds.skipped.truncated == 1
    shown = [str(w.message) for w in caught]
    assert len(shown) == 1 and re.search(r"truncated 1 text\(s\) to --max-length 1000 characters "
                                         r"\(1,500 characters cut\): .*:2: 2500 characters", shown[0]), shown


def test_truncated_text_keeps_no_trailing_blank(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("ab cdef,English\n", encoding="utf-8")
    ds = _quietly("name2lang", path, max_length=3, truncate=True)
    assert list(ds) == [("ab", "English")]


@pytest.mark.parametrize("dataset", ["pairs", "cmudict"])
def test_seq2seq_target_token_count_is_limited_too(tmp_path, dataset):
    path = tmp_path / "t.txt"
    path.write_text("cat\tK AE T\nlong\tL O N G S\n" if dataset == "pairs" else "CAT K AE1 T\nLONG L AO1 NG G S\n",
                    encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"{path}:2: target of 5 tokens is longer than --max-length 4")):
        registry.datasets.create(dataset, path=str(path), max_length=4)
    ds = _quietly(dataset, path, max_length=4, truncate=True)
    assert len(ds[1][1]) == 4 and ds.skipped.truncated == 1


def test_seq2seq_source_and_target_cut_on_one_line_are_both_counted(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("cat\tK AE T\nlengthy\tL E N G T H\n", encoding="utf-8")
    with pytest.warns(UserWarning) as caught:
        ds = registry.datasets.create("pairs", path=str(path), max_length=4, truncate=True)
    assert ds[1] == ("leng", ("L", "E", "N", "G")) and ds.skipped.truncated == 2
    assert [str(w.message) for w in caught] == [
        f"truncated 2 text(s) to --max-length 4 (3 characters cut, 2 target tokens cut): {path}:2: 7 characters; "
        f"{path}:2: target of 6 tokens"]


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("value", [0, -3, 2.5, "10", True])
def test_max_length_must_be_a_positive_integer_or_none(tmp_path, dataset, value):
    (tmp_path / "d.txt").write_bytes(GOOD[dataset])
    with pytest.raises(ConfigError, match="max_length must be a positive integer"):
        registry.datasets.create(dataset, path=str(tmp_path / "d.txt"), max_length=value)


# -- nothing dropped without a report ------------------------------------------------------------------------
def test_files_a_data_directory_does_not_read_are_reported(tmp_path):
    d = tmp_path / "names"
    d.mkdir()
    (d / "English.txt").write_text("Smith\n", encoding="utf-8")
    (d / "German.TXT").write_text("Müller\n", encoding="utf-8")
    (d / "README.md").write_text("about\n", encoding="utf-8")
    (d / ".Hidden.txt").write_text("Ghost\n", encoding="utf-8")
    (d / "more").mkdir()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = _create("name2lang", d)
    assert list(ds) == [("Smith", "English")]
    assert ds.skipped.count == 0 and ds.skipped.unread == 4
    assert ds.skipped.unread_examples == [
        f"{d}/.Hidden.txt: not read: hidden file",
        f"{d}/German.TXT: not read: extension .TXT, rename it to German.txt",
        f"{d}/README.md: not read: not a <Language>.txt file",
        f"{d}/more: not read: a directory",
    ]
    shown = [str(w.message) for w in caught]
    assert len(shown) == 1 and shown[0].startswith(f"did not read 4 file(s) in {d}: ") and "German.txt" in shown[0]
    assert ds.skipped.as_dict()["unread_files"] == 4


def test_directory_with_only_misnamed_files_says_how_to_fix_them(tmp_path):
    d = tmp_path / "names"
    d.mkdir()
    (d / "German.TXT").write_text("Müller\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        _create("name2lang", d)
    msg = str(info.value)
    _one_line(msg)
    assert "no <Language>.txt files" in msg and "German.TXT: not read: extension .TXT, rename it to German.txt" in msg


def test_seqkit_cache_marker_is_not_reported(tmp_path):
    d = tmp_path / "name2lang"
    d.mkdir()
    (d / "English.txt").write_text("Smith\n", encoding="utf-8")
    (d / ".verified.json").write_text("{}", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = _create("name2lang", d)
    assert ds.skipped.unread == 0


def test_csv_blank_and_repeated_header_rows_are_reported(tmp_path):
    path = tmp_path / "cat.csv"  # two CSV files concatenated, blank lines between records
    path.write_text("text,label\nSmith,English\n\n  \ntext,label\nMüller,German\n", encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = _create("csv", path)
    assert list(ds) == [("Smith", "English"), ("Müller", "German")] and ds.labels == ["English", "German"]
    assert ds.skipped.count == 0 and ds.skipped.ignored == 3
    assert ds.skipped.ignored_examples == [f"{path}:3: blank row", f"{path}:4: blank row",
                                           f"{path}:5: repeated header row 'text,label'"]
    shown = [str(w.message) for w in caught]
    assert len(shown) == 1 and shown[0].startswith("ignored 3 row(s) holding no data: "), shown


def test_csv_forced_header_repeated_and_header_false(tmp_path):
    path = tmp_path / "cat.csv"
    path.write_text("Word,Tag\nSmith,English\nWord,Tag\nMüller,German\n", encoding="utf-8")
    ds = _quietly("csv", path, header=True)
    assert list(ds) == [("Smith", "English"), ("Müller", "German")] and ds.skipped.ignored == 1
    ds = _create("csv", path, header=False)  # no header: every row is data
    assert len(ds) == 4 and ds.skipped.ignored == 0


def test_skip_report_as_dict_and_merge():
    a, b = SkipReport(), SkipReport()
    a.add("f:1", "empty line")
    b.add_ignored("f:2", "blank row")
    b.add_truncated("f:3", 20, 5)
    b.add_unread("d/x.md", "not a <Language>.txt file")
    a.merge(b)
    assert a.as_dict() == {"skipped_lines": 1, "skipped_examples": ["f:1: empty line"], "ignored_rows": 1,
                           "ignored_examples": ["f:2: blank row"], "truncated_texts": 1, "truncated_characters": 15,
                           "truncated_tokens": 0, "truncated_examples": ["f:3: 20 characters"], "unread_files": 1,
                           "unread_examples": ["d/x.md: not read: not a <Language>.txt file"]}
    assert str(SkipReport()) == "nothing skipped"


# -- properties: arbitrary bytes -----------------------------------------------------------------------------
UNICODE = st.characters(blacklist_categories=("Cs",))
TEXT_LINE = st.one_of(
    st.text(UNICODE, max_size=12).map(lambda s: s.encode("utf-8")),
    st.sampled_from([b"Smith,English", b"Smith", b"cat\tk a t", b"CAT K AE1 T", b"W(2) AH0 B", b'"a,b",c', b"#c",
                     b"  ", b"a\tb\tc", b",", b"\xef\xbb\xbf", b"x" * 9, b"Ab Cd,L", b"text,label"]),
)
BYTES_LINE = st.one_of(st.binary(max_size=12), st.sampled_from([b"\xc3", b"\xff\xfe", b"\xed\xa0\x80"]))


def _lines(text: str) -> list[str]:
    with io.TextIOWrapper(io.BytesIO(text.encode("utf-8")), encoding="utf-8", newline=None) as f:
        lines = f.read().split("\n")  # universal newlines: LF, CRLF and CR end a line, nothing else
    return lines[:-1] if lines and lines[-1] == "" else lines


def _reference(layout: str, text: str) -> tuple[list[tuple[int, str, object]], int, int]:
    """What the file says: ``(line, text, label or target)`` for every good line, the
    number of bad lines and of blank CSV rows, by the formats' documented rules (before
    the length limit)."""
    good, bad, blank = [], 0, 0
    if layout == "csv":
        try:
            rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
        except csv.Error:
            return [], -1, 0  # malformed quoting: only "loads or one-line DataError" is checked
        for row in rows:
            if not row or all(not f.strip() for f in row):
                blank += 1  # ignored and reported, not a bad line
                continue
            if len(row) < 2 or any(f.strip() for f in row[2:]) or not row[0].strip() or not row[1].strip():
                bad += 1
                continue
            good.append((0, row[0].strip(), row[1].strip()))
        return good, bad, blank
    for number, line in enumerate(_lines(text), start=1):
        if layout == "name2lang":
            name, comma, lab = line.rpartition(",")
            ok = comma and name.strip() and lab.strip()
            item = (number, name.strip(), lab.strip())
        elif layout == "dir":
            ok, item = bool(line.strip()), (number, line.strip(), "Lang")
        elif layout == "pairs":
            parts = line.split("\t")
            ok = len(parts) == 2 and parts[0].strip() and parts[1].strip()
            item = (number, parts[0].strip(), parts[-1].strip())
        else:  # cmudict
            fields = line.split("#", 1)[0].split()
            if not fields:
                continue
            ok = len(fields) >= 2 and all(re.fullmatch(r"[A-Z]+[0-2]?", p) for p in fields[1:])
            word = re.sub(r"\((\d+)\)$", "", fields[0]) if re.fullmatch(r".+\(\d+\)", fields[0]) else fields[0]
            item = (number, word, tuple(fields[1:]))
        if ok:
            good.append(item)
        else:
            bad += 1
    return good, bad, blank


def _expected(layout, good, *, max_length, truncate):
    """The items a reader gives for ``good`` lines, how many lines are over the limit, and
    how many texts (sources, targets) are cut with ``truncate``."""
    if layout == "pairs":
        spaced = any(any(c.isspace() for c in t) for _, _, t in good)
        good = [(n, s, tuple(t.split() if spaced else t)) for n, s, t in good]
    items, over, cut = [], 0, 0
    limit = float("inf") if max_length is None else max_length
    for _, text, target in good:
        long_text, long_target = len(text) > limit, layout in ("pairs", "cmudict") and len(target) > limit
        if long_text or long_target:
            over += 1
            if not truncate:
                continue
            cut += long_text + long_target
            text = text[:max_length].rstrip()
            target = target[:max_length] if long_target else target
        items.append((text, target))
    return items, over, cut


WORD = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\t"), min_size=1, max_size=7)
TOKEN = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters="#"),
                min_size=1, max_size=7)  # a cmudict word: no blank, no comment sign
PHONES = st.lists(st.sampled_from(["AH0", "K", "T", "EY1", "NG"]), min_size=1, max_size=7)


def _csv_line(row) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(row)
    return out.getvalue()


#: lines that are often well formed for each layout (the reference decides), and garbage
GOOD_LINE = {
    "name2lang": st.builds(lambda n, lab: f"{n},{lab}", WORD, WORD),
    "dir": WORD,
    "csv": st.builds(lambda n, lab: _csv_line([n, lab]), WORD, WORD),
    "pairs": st.builds(lambda src, tgt: f"{src}\t{tgt}", WORD, WORD),
    "cmudict": st.builds(lambda w, ps: " ".join([w, *ps]), TOKEN, PHONES),
}


def _layout_lines(layout: str, raw_bytes: bool):
    good = GOOD_LINE[layout].map(lambda line: line.encode("utf-8"))
    garbage = st.one_of(TEXT_LINE, BYTES_LINE) if raw_bytes else TEXT_LINE
    return st.lists(st.one_of(good, good, good, good, garbage), min_size=1, max_size=8)


FILE_NAMES = st.one_of(st.just(b"f.txt"), st.sampled_from([b"Fran\xe7ais.txt", b"a\nb.txt", b"\xff\xfe.csv",
                                                           "日本 \u2028.txt".encode(), b"-x,y;z.tsv"]))


@pytest.mark.parametrize("layout", ["name2lang", "dir", "csv", "pairs", "cmudict"])
@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(data=st.data(), sep=st.sampled_from([b"\n", b"\r\n", b"\r"]), bom=st.booleans(), fname=FILE_NAMES,
       skip=st.booleans(), max_length=st.sampled_from([None, 1000, 1000, 5]), truncate=st.booleans())
def test_property_any_bytes_read_as_written_or_one_line_data_error(tmp_path_factory, layout, data, sep, bom,
                                                                   fname, skip, max_length, truncate):
    parts = data.draw(_layout_lines(layout, raw_bytes=data.draw(st.integers(0, 3)) == 0), label="lines")
    root = os.fsencode(tmp_path_factory.mktemp("bytes"))
    content = (b"\xef\xbb\xbf" if bom else b"") + sep.join(parts)
    path = os.path.join(root, fname)
    if layout == "dir":
        os.mkdir(path)
        with open(os.path.join(path, b"Lang.txt"), "wb") as f:
            f.write(content)
    else:
        with open(path, "wb") as f:
            f.write(content)
    dataset = "name2lang" if layout == "dir" else layout
    options = {"on_bad_line": "skip" if skip else "error", "max_length": max_length, "truncate": truncate}
    if dataset == "csv":
        options.update(header=False, delimiter=",")
    if dataset == "cmudict":
        options.update(stress=True, alternates="all")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    else:
        text = text[1:] if text.startswith("\ufeff") else text
    try:
        ds = _no_hang(lambda: _quietly(dataset, path, **options))
    except DataError as exc:
        _one_line(str(exc))
        assert _shown(path) in str(exc), str(exc)
        ok = False
    else:
        ok = True
    if text is None:
        event("invalid UTF-8: refused")
        assert not ok, "invalid UTF-8 was read"
        return
    good, bad, blank = _reference(layout, text)
    if bad < 0:  # malformed CSV: only the invariants
        event("malformed CSV")
        if ok:
            assert all(t and t == t.strip() for t in ds.texts) and all(lab and lab == lab.strip() for lab in ds.labels)
        return
    items, over, cut = _expected(layout, good, max_length=max_length, truncate=truncate)
    dropped = bad + (0 if truncate else over)
    if (dropped and not skip) or not items:
        event(f"refused: bad={bad > 0} over={over > 0 and not truncate} empty={not items}")
        assert not ok, f"expected a DataError, got {list(ds)[:5]}"
        return
    event(f"read: {'lines skipped' if dropped else 'truncated' if over else 'as written'}")
    assert ok, "expected a dataset"
    got = [(t, tuple(y)) if layout in ("pairs", "cmudict") else (t, y) for t, y in ds]
    assert got == items
    assert ds.skipped.count == dropped and ds.skipped.truncated == cut
    assert ds.skipped.ignored == blank
    if blank:
        event("read with blank CSV rows")


# -- properties: arbitrary file names ------------------------------------------------------------------------
NAME_BYTES = st.one_of(
    st.binary(min_size=1, max_size=20),
    st.text(UNICODE, min_size=1, max_size=12).map(lambda s: s.encode("utf-8")),
    st.text(st.characters(max_codepoint=255), min_size=1, max_size=12).map(lambda s: s.encode("latin-1")),
).flatmap(lambda stem: st.sampled_from([stem + b".txt", stem + b".TXT", stem, b"." + stem + b".txt"]))


def _expected_dir(name: bytes):
    """``("read", label)``, ``("unread", None)`` or ``("error", what)`` for a file ``name``."""
    if name.startswith(b"."):
        return "unread", None
    if name.endswith(b".txt"):
        try:
            stem = name[:-4].decode("utf-8")
        except UnicodeDecodeError:
            return "error", "file name is not valid UTF-8"
        return ("read", stem.strip()) if stem.strip() else ("error", "empty language")
    return "unread", None


@settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(names=st.lists(NAME_BYTES.filter(lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b"..")
                                        and len(b) <= 255), max_size=4, unique=True),
       skip=st.booleans())
def test_property_any_file_names_in_a_data_directory(tmp_path_factory, names, skip):
    d = os.fsencode(tmp_path_factory.mktemp("names"))
    names = [n for n in names if n != b"English.txt"]
    for n in [b"English.txt", *names]:
        with open(os.path.join(d, n), "wb") as f:
            f.write(b"Smith\n")
    outcome = {n: _expected_dir(n) for n in names}
    errors = sorted((n, what) for n, (kind, what) in outcome.items() if kind == "error")
    try:
        ds = _no_hang(lambda: _quietly("name2lang", d, on_bad_line="skip" if skip else "error"))
    except DataError as exc:
        msg = str(exc)
        _one_line(msg)
        assert errors, f"unexpected DataError: {msg}"
        event("refused: " + errors[0][1])
        assert any(f"{_shown(os.path.join(d, n))}: " in msg and what in msg for n, what in errors), msg
        return
    assert not errors, f"expected a DataError for {errors}"
    event(f"read, {sum(kind == 'read' for kind, _ in outcome.values())} odd file(s) read")
    labels = sorted({"English", *(lab for kind, lab in outcome.values() if kind == "read")})
    assert ds.labels == labels and len(ds) == 1 + sum(kind == "read" for kind, _ in outcome.values())
    assert ds.skipped.unread == sum(kind == "unread" for kind, _ in outcome.values())
    for lab in ds.labels:
        lab.encode("utf-8")
    for line in ds.skipped.unread_examples:
        _one_line(line)
