"""``seqkit run`` in a real subprocess on hostile data paths: a named pipe in the data
directory or given as ``--data``, ``--data ""``, a data file whose name is not UTF-8, and
files a data directory does not read. Each refusal is one ``seqkit: error:`` line, exit
status 2, no traceback, within seconds (a pipe must never be waited on), and no run
directory is left half-written; what is not read is reported."""
from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
from conftest import run_seqkit

pytestmark = pytest.mark.slow

SMALL = ("--epochs", "1", "--hidden-size", "8", "--quiet")


def _refused(proc: subprocess.CompletedProcess, what: str) -> str:
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("seqkit: error: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert re.search(what, lines[0]), lines[0]
    return lines[0]


def _run(*args: str, **kw) -> subprocess.CompletedProcess:
    try:
        return run_seqkit(*args, timeout=120, **kw)
    except subprocess.TimeoutExpired:
        pytest.fail(f"seqkit {' '.join(args)} did not end within 120 s (waiting on a named pipe?)")


def _language_dir(root, names_path, n: int = 24):
    root.mkdir()
    for lang in ("English", "Japanese", "Russian"):
        lines = (names_path / f"{lang}.txt").read_text("utf-8").splitlines()[:n]
        (root / f"{lang}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_named_pipes_are_refused_in_one_line(tmp_path, names_path):
    d = _language_dir(tmp_path / "names", names_path)
    os.mkfifo(d / "German.txt")
    out = tmp_path / "run"
    line = _refused(_run("run", "--data", str(d), "--out", str(out), *SMALL),
                    re.escape(f"{d / 'German.txt'}: is a named pipe, not a regular file"))
    assert "move it out of the data directory" in line
    assert not (out / "metrics.json").exists() and not (out / "checkpoint.pt").exists()
    fifo = tmp_path / "names.fifo"
    os.mkfifo(fifo)
    line = _refused(_run("run", "--data", str(fifo), "--out", str(tmp_path / "run2"), *SMALL),
                    re.escape(f"{fifo}: is a named pipe, not a regular file"))
    assert "no such file" not in line


def test_empty_data_path_is_refused_not_replaced_by_seqkit_data(tmp_path, names_path):
    d = _language_dir(tmp_path / "names", names_path)
    _refused(_run("run", "--data", "", "--out", str(tmp_path / "run"), *SMALL, env={"SEQKIT_DATA": str(d)}),
             r"--data '': empty path; pass --data")


def test_data_file_name_that_is_not_utf8_is_refused_before_the_run_starts(tmp_path, names_path):
    d = _language_dir(tmp_path / "names", names_path)
    with open(os.path.join(os.fsencode(d), b"Fran\xe7ais.txt"), "wb") as f:  # Latin-1 "ç"
        f.write(b"Dupont\nDurand\nMartin\n")
    out = tmp_path / "run"
    _refused(_run("run", "--data", str(d), "--out", str(out), *SMALL),
             re.escape(f"{d}/Fran\\xe7ais.txt: file name is not valid UTF-8") + ".*rename it")
    assert not (out / "metrics.json").exists() and not (out / "checkpoint.pt").exists()


LONG = "Wolfeschlegelsteinhausenbergerdorff"  # 35 characters


def test_text_longer_than_max_length_is_refused_in_one_line(tmp_path, names_path):
    d = _language_dir(tmp_path / "names", names_path)
    with open(d / "English.txt", "a", encoding="utf-8") as f:
        f.write(LONG + "\n")
    _refused(_run("run", "--data", str(d), "--max-length", "20", "--out", str(tmp_path / "run"), *SMALL),
             re.escape(f"{d / 'English.txt'}:25: text of 35 characters is longer than --max-length 20; shorten it, "
                       f"raise --max-length, pass --truncate to cut it, or pass --on-bad-line skip"))


def test_files_not_read_and_texts_cut_are_reported_and_the_run_goes_on(tmp_path, names_path):
    d = _language_dir(tmp_path / "names", names_path)
    with open(d / "English.txt", "a", encoding="utf-8") as f:
        f.write(LONG + "\n")
    (d / "German.TXT").write_text("Müller\nSchmidt\n", encoding="utf-8")
    (d / "README.md").write_text("where these names come from\n", encoding="utf-8")
    out = tmp_path / "run"
    proc = _run("run", "--data", str(d), "--out", str(out), "--batch-size", "16", "--max-length", "20", "--truncate",
                *SMALL)
    assert proc.returncode == 0, proc.stderr
    assert re.search(rf"did not read 2 file\(s\) in {re.escape(str(d))}: .*German\.TXT: not read: extension \.TXT, "
                     r"rename it to German\.txt; .*README\.md: not read: not a <Language>\.txt file", proc.stderr), \
        proc.stderr
    assert re.search(r"truncated 1 text\(s\) to --max-length 20 characters \(15 characters cut\): "
                     r".*English\.txt:25: 35 characters", proc.stderr), proc.stderr
    assert json.loads((out / "metrics.json").read_text())["data"]["examples"] == 73
