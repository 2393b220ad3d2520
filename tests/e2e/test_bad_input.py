"""Bad and odd input: a table of real files, each checked through the Python API (typed
error, one line naming what, where and how to fix) and, for representative ones, through
the real CLI (exit 2, one line on stderr, no traceback); odd but valid files load as a
reference parser (Python's csv module, universal-newline text mode) reads them; property
tests for CSV round trips, arbitrary bytes and ``--on-bad-line skip``."""
from __future__ import annotations

import csv
import json
import re
import warnings

import pytest
from conftest import run_seqkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqkit import registry
from seqkit.errors import DataError, SeqkitError
from seqkit.data.splits import split_dataset

BOM = b"\xef\xbb\xbf"
FIX_WORDS = re.compile(r"\b(pass|remove|fill|re-save|quote|fix|add|drop|use|check|lower|rename)\b")


def _write(root, files: dict[str, bytes]) -> None:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            p.mkdir(exist_ok=True)
        else:
            p.write_bytes(content)


def _load(root, dataset: str, rel: str, **options):
    return registry.datasets.create(dataset, path=str(root / rel), **options)


def _bad_utf8_offset(content: bytes) -> int:
    try:
        content.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    raise AssertionError("content is valid UTF-8")


INVALID = b"Smith,English\nM\xfcller,German\n"  # Latin-1 "ü"
TRUNCATED = b"Smith,English\nYamada,Japan" + "é".encode()[:1]  # file ends inside a character

# id, dataset, files ({relative path: bytes, or None for a directory}), the --data path,
# what the message must say (regex), the line/offset it must name (regex or None)
CASES = [
    ("empty-file", "name2lang", {"e.txt": b""}, "e.txt", "contains no name,language lines", None),
    ("bom-only-file", "name2lang", {"b.txt": BOM}, "b.txt", "contains no name,language lines", None),
    ("empty-csv", "csv", {"e.csv": b""}, "e.csv", "contains no text,label rows", None),
    ("header-only-csv", "csv", {"h.csv": b"text,label\r\n"}, "h.csv", "contains no text,label rows", None),
    ("empty-directory", "name2lang", {"d": None}, "d", r"no <Language>\.txt files", None),
    ("missing-path", "name2lang", {}, "nope", "no such file or directory", None),
    ("csv-is-a-directory", "csv", {"d": None}, "d", "is a directory", None),
    ("blank-line", "name2lang", {"p.txt": b"Smith,English\n\nJones,English\n"}, "p.txt", "empty line", ":2"),
    ("no-comma", "name2lang", {"p.txt": b"Smith English\n"}, "p.txt", "expected 'name,language'", ":1"),
    ("empty-name", "name2lang", {"p.txt": b"Smith,English\n,English\n"}, "p.txt", "empty name", ":2"),
    ("whitespace-name", "name2lang", {"p.txt": "Smith,English\n \t\u00a0,English\n".encode()}, "p.txt",
     "empty name", ":2"),
    ("whitespace-label", "name2lang", {"p.txt": b"Smith, \t\n"}, "p.txt", "empty language", ":1"),
    ("dir-whitespace-name", "name2lang", {"d/English.txt": b"Smith\r\n   \r\nJones\r\n"}, "d",
     "empty or whitespace-only name", r"English\.txt:2"),
    ("csv-unclosed-quote", "csv", {"q.csv": b'Smith,English\n"Jones,English\nBrown,English\n'}, "q.csv",
     "malformed CSV", r":2.*lines 2-3 not read"),
    ("csv-text-after-quote", "csv", {"q.csv": b'"Smith"son,English\n'}, "q.csv", "malformed CSV", ":1"),
    ("csv-missing-field", "csv", {"m.csv": b"Smith,English\nJones\n"}, "m.csv", "missing field", ":2"),
    ("csv-extra-field", "csv", {"x.csv": b"Smith,English,extra\n"}, "x.csv", "3 fields, expected 2", ":1"),
    ("csv-whitespace-text", "csv", {"w.csv": b'"  \t",English\n'}, "w.csv", "empty text", ":1"),
    ("csv-empty-label", "csv", {"w.csv": b"Smith,\n"}, "w.csv", "empty label", ":1"),
    ("invalid-utf8", "name2lang", {"u.txt": INVALID}, "u.txt",
     rf"invalid UTF-8 at byte offset {_bad_utf8_offset(INVALID)} \(line 2\)", None),
    ("invalid-utf8-after-bom", "name2lang", {"u.txt": BOM + INVALID}, "u.txt",
     rf"invalid UTF-8 at byte offset {3 + _bad_utf8_offset(INVALID)} \(line 2\)", None),
    ("truncated-utf8", "name2lang", {"u.txt": TRUNCATED}, "u.txt",
     rf"invalid UTF-8 at byte offset {len(TRUNCATED) - 1} \(line 2\)", None),
    ("invalid-utf8-csv", "csv", {"u.csv": INVALID}, "u.csv", "invalid UTF-8 at byte offset 15", None),
    ("invalid-utf8-dir", "name2lang", {"d/German.txt": b"M\xfcller\n"}, "d", "invalid UTF-8 at byte offset 1",
     r"German\.txt"),
    ("utf16-file", "name2lang", {"w.txt": "Smith,English\n".encode("utf-16")}, "w.txt",
     "invalid UTF-8 at byte offset 0", None),
]


@pytest.mark.parametrize("dataset, files, rel, what, where", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_file_raises_one_line_data_error(tmp_path, dataset, files, rel, what, where):
    _write(tmp_path, files)
    with pytest.raises(DataError) as info:
        _load(tmp_path, dataset, rel)
    msg = str(info.value)
    assert "\n" not in msg and re.search(what, msg), msg
    assert str(tmp_path) in msg, f"the message does not say where: {msg}"
    if where:
        assert re.search(where, msg), msg
    assert FIX_WORDS.search(msg.split(";", 1)[-1]), f"the message does not say how to fix it: {msg}"


def _labels_file(tmp_path, counts: dict[str, int]):
    path = tmp_path / "labels.txt"
    path.write_text("".join(f"{lab}{i},{lab}\n" for lab, n in counts.items() for i in range(n)), encoding="utf-8")
    return registry.datasets.create("name2lang", path=str(path))


@pytest.mark.parametrize("counts, test_size, what", [
    ({"English": 20, "Solo": 1, "Lone": 1}, 0.2, r"label\(s\) 'Lone', 'Solo' have only one example"),
    ({"English": 50, "Pair": 2}, 0.8, r"label\(s\) 'Pair' would occur only in the test split"),
    ({"A": 2, "B": 2, "C": 2}, 0.2, "leave fewer examples than labels"),
], ids=["label-once", "label-only-in-test", "test-smaller-than-labels"])
def test_impossible_stratification_says_why_and_how_to_fix(tmp_path, counts, test_size, what):
    ds = _labels_file(tmp_path, counts)
    with pytest.raises(DataError, match=what) as info:
        split_dataset(ds, test_size=test_size)
    msg = str(info.value)
    assert "\n" not in msg and "stratified split impossible" in msg
    assert re.search(r"--test-size|drop those labels|add", msg), msg


# -- the real CLI on representative files -------------------------------------------------------------------
CLI_CASES = ["invalid-utf8", "csv-unclosed-quote"]  # one subprocess costs seconds; the API covers the rest


@pytest.mark.slow
def test_cli_answers_bad_input_with_one_line_and_exit_2(tmp_path):
    by_id = {c[0]: c for c in CASES}
    runs = []
    for case_id in CLI_CASES:
        _, dataset, files, rel, what, _ = by_id[case_id]
        root = tmp_path / case_id
        root.mkdir()
        _write(root, files)
        runs.append((case_id, what, ("run", "--dataset", dataset, "--data", str(root / rel), "--epochs", "1")))
    stratify = tmp_path / "strat.txt"
    stratify.write_text("".join(f"Name{i},English\n" for i in range(20)) + "Solo,Lonely\n", encoding="utf-8")
    runs.append(("label-once", r"'Lonely' have only one example",
                 ("run", "--data", str(stratify), "--epochs", "1", "--out", str(tmp_path / "o"))))
    for case_id, what, args in runs:
        proc = run_seqkit(*args, "--hidden-size", "8", "--quiet", cwd=str(tmp_path), timeout=120)
        lines = proc.stderr.splitlines()
        assert proc.returncode == 2, (case_id, proc.stderr)
        assert len(lines) == 1 and lines[0].startswith("seqkit: error: "), (case_id, proc.stderr)
        assert re.search(what, lines[0]) and "Traceback" not in proc.stderr + proc.stdout, (case_id, proc.stderr)


@pytest.mark.slow
def test_cli_skip_reports_count_and_lines_in_warning_and_metrics(tmp_path):
    path = tmp_path / "names.txt"
    good = [f"Name{i},{'English' if i % 2 else 'Dutch'}" for i in range(60)]
    lines = good[:10] + ["", "broken line"] + good[10:30] + [",Dutch"] + good[30:]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    proc = run_seqkit("run", "--data", str(path), "--on-bad-line", "skip", "--epochs", "1", "--hidden-size", "8",
                      "--batch-size", "16", "--out", str(out), "--quiet", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"skipped 3 bad line\(s\): .*names\.txt:11: empty line; .*names\.txt:12: .*names\.txt:33: "
                     r"empty name", proc.stderr), proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"]["skipped_lines"] == 3 and metrics["data"]["examples"] == 60


# -- odd but valid input loads as a reference parser reads it ------------------------------------------------
ODD_NAMES = ["X", "Ü" * 10_000, "山田", "Иванов", "A\u0301brahám", "e\u0301\u0301", "🙂", "👩‍👩‍👧", "🇯🇵",
             "عبد الله", "\u200fשָׁלוֹם", "O'Brien", "Smith-Jones", "a\u2028b", "Nguyễn Văn", "ß"]


def _csv_reference(path) -> list[tuple[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = [r for r in csv.reader(f, strict=True) if r]
    return [(t.strip(), lab.strip()) for t, lab in rows]


def _plain_reference(path) -> list[tuple[str, str]]:
    with open(path, encoding="utf-8-sig", newline=None) as f:  # universal newlines: \n, \r\n, \r
        lines = f.read().split("\n")
    lines = lines[:-1] if lines and lines[-1] == "" else lines
    return [tuple(p.strip() for p in line.rpartition(",")[::2]) for line in lines]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
@pytest.mark.parametrize("bom", [False, True], ids=["no-bom", "bom"])
def test_odd_but_valid_name_files_load_like_the_reference(tmp_path, newline, bom):
    pairs = [(name, ["Japanese", "Russian", "Arabic"][i % 3]) for i, name in enumerate(ODD_NAMES)]
    path = tmp_path / "odd.txt"
    body = newline.join(f"{n},{lab}" for n, lab in pairs)  # no line end after the last line
    path.write_bytes((BOM if bom else b"") + body.encode("utf-8"))
    ds = registry.datasets.create("name2lang", path=str(path), max_length=None)  # a name of 10,000 characters
    assert list(ds) == _plain_reference(path) == pairs
    assert ds.lengths().tolist() == [len(n) for n, _ in pairs]
    d = tmp_path / "langs"
    d.mkdir()
    (d / "Japanese.txt").write_bytes((BOM if bom else b"") + newline.join(ODD_NAMES).encode("utf-8") + b"\n")
    assert list(registry.datasets.create("name2lang", path=str(d), max_length=None)) == \
        [(n, "Japanese") for n in ODD_NAMES]


def test_odd_but_valid_csv_loads_like_the_csv_module(tmp_path):
    labels = ["English, Old", 'Irish "Gaelic"', "日本語", "Русский", "עברית", "x"]
    rows = [(name, labels[i % len(labels)]) for i, name in enumerate(ODD_NAMES + ["Line\nBreak", "Tab\there"])]
    path = tmp_path / "odd.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as f:  # BOM, CRLF line ends, quotes where needed
        csv.writer(f).writerows(rows)
    ds = registry.datasets.create("csv", path=str(path), max_length=None)  # a name of 10,000 characters
    assert list(ds) == _csv_reference(path) == rows
    tsv = tmp_path / "odd.tsv"
    with open(tsv, "w", encoding="utf-8", newline="") as f:
        csv.writer(f, delimiter="\t", lineterminator="\n").writerows(rows)
    assert list(registry.datasets.create("csv", path=str(tsv), max_length=None)) == rows


# -- properties --------------------------------------------------------------------------------------------
UNICODE = st.characters(blacklist_categories=("Cs",))  # anything UTF-8 can hold
field = st.text(UNICODE, min_size=1, max_size=15).map(str.strip).filter(bool)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(field, field), min_size=1, max_size=25), delimiter=st.sampled_from([",", "\t", ";"]),
       bom=st.booleans())
def test_property_csv_writer_output_reads_back_identically(tmp_path, rows, delimiter, bom):
    path = tmp_path / "p.csv"
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as f:
        csv.writer(f, delimiter=delimiter).writerows(rows)
    ds = registry.datasets.create("csv", path=str(path), delimiter=delimiter, header=False)
    assert list(ds) == rows


LINE_BYTES = st.one_of(
    st.binary(max_size=30),
    st.text(UNICODE, max_size=20).map(lambda s: s.encode("utf-8")),
    st.sampled_from([b"Smith,English", b'"a,b",c', b'"open', b",", b"\xef\xbb\xbf", b"\xff\xfe", b"a\tb"]),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(LINE_BYTES, max_size=12), sep=st.sampled_from([b"\n", b"\r\n", b"\r", b""]),
       layout=st.sampled_from(["pairs", "dir", "csv"]), skip=st.booleans())
def test_property_any_bytes_load_or_raise_data_error(tmp_path, parts, sep, layout, skip):
    content = sep.join(parts)
    path = tmp_path / ("d" if layout == "dir" else "f.csv" if layout == "csv" else "f.txt")
    if layout == "dir":
        path.mkdir(exist_ok=True)
        (path / "Lang.txt").write_bytes(content)
    else:
        path.write_bytes(content)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = registry.datasets.create("csv" if layout == "csv" else "name2lang", path=str(path),
                                          on_bad_line="skip" if skip else "error")
    except DataError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return
    except SeqkitError as exc:  # pragma: no cover - the assertion below reports it
        pytest.fail(f"{type(exc).__name__} instead of DataError: {exc}")
    assert len(ds) >= 1 and all(t == t.strip() and t for t in ds.texts)
    assert len(ds.labels) >= 1 and all(lab and lab == lab.strip() for lab in ds.labels)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(st.sampled_from(["good", "blank", "nocomma", "noname", "nolabel"]), min_size=1, max_size=40))
def test_property_skip_counts_and_names_the_first_bad_lines(tmp_path, kinds):
    bad_text = {"blank": " ", "nocomma": "Smith English", "noname": " ,English", "nolabel": "Smith, "}
    lines = [f"Name{i},L{i % 2}" if k == "good" else bad_text[k] for i, k in enumerate(kinds)]
    path = tmp_path / "s.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    bad = [i + 1 for i, k in enumerate(kinds) if k != "good"]
    if len(bad) == len(kinds):
        with pytest.raises(DataError, match="contains no"):
            registry.datasets.create("name2lang", path=str(path), on_bad_line="skip")
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = registry.datasets.create("name2lang", path=str(path), on_bad_line="skip")
    assert list(ds) == [(f"Name{i},L{i % 2}".split(",")[0], f"L{i % 2}") for i, k in enumerate(kinds) if k == "good"]
    assert ds.skipped.count == len(bad)
    assert [int(re.search(r":(\d+): ", e).group(1)) for e in ds.skipped.examples] == bad[:ds.skipped.limit]
    shown = [str(w.message) for w in caught if "skipped" in str(w.message)]
    assert (len(shown) == 1) == bool(bad)
    if bad:
        assert f"skipped {len(bad)} bad line(s)" in shown[0] and f"{path}:{bad[0]}" in shown[0]
        if len(bad) > ds.skipped.limit:
            assert shown[0].endswith(", ...")
