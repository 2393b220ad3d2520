"""The real command line under hostile options: values that used to reach a component
untyped or unchecked, and a --plugin that claims a name another plugin owns."""
from __future__ import annotations

import json

import pytest

from conftest import run_seqkit

pytestmark = pytest.mark.slow  # the real seqkit in subprocesses


def _one_line(proc, words: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("seqkit: error: ") and "Traceback" not in proc.stderr, proc.stderr
    assert words in lines[0], lines[0]


def test_o_booleans_are_read_as_written_and_no_row_is_lost(names_subset, tmp_path):
    rows = [r for r in names_subset.read_text(encoding="utf-8").splitlines() if r.count(",") == 1]
    data = tmp_path / "names.csv"
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")  # no header: the first row is data
    for written in ("False", "no", "0", "off"):
        proc = run_seqkit("run", "--dataset", "csv", "--data", str(data), "-o", f"dataset.header={written}",
                          "--epochs", "1", "--hidden-size", "8", "--out", str(tmp_path / written), "--json", "--quiet")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["data"]["examples"] == len(rows), f"header={written} dropped a row"
    _one_line(run_seqkit("run", "--dataset", "csv", "--data", str(data), "-o", "dataset.header=maybe"),
              "-o dataset.header takes true/false (yes/no, on/off, 1/0), got 'maybe'")


@pytest.mark.parametrize("args, words", [
    (["--weight-decay", "-1"], "--weight-decay must be at least 0, got -1.0"),
    (["--optimizer", "sgd", "--momentum", "-1"], "--momentum must be at least 0, got -1.0"),
    (["--seed", "1180591620717411303424"], "--seed must be in [0, 9223372036854775807]"),
])
def test_option_values_that_reached_torch_are_one_line(names_subset, tmp_path, args, words):
    _one_line(run_seqkit("run", "--data", str(names_subset), "--out", str(tmp_path / "r"), *args), words)


@pytest.mark.parametrize("command", [["predict", "Nakamura"], ["eval"]])
def test_predict_and_eval_check_the_device(command, tmp_path):
    ckpt = tmp_path / "missing.pt"
    _one_line(run_seqkit(command[0], "--checkpoint", str(ckpt), "--device", "tpu", *command[1:]),
              "--device must be auto, cpu or cuda, got 'tpu'")


def test_a_plugin_module_that_claims_a_taken_name_is_refused_naming_both_owners(tmp_path):
    (tmp_path / "dupcell.py").write_text(
        "from seqkit import hookimpl\n\n@hookimpl\ndef seqkit_register_cells(register):\n"
        "    register('gru', lambda **kw: None)\n", encoding="utf-8")
    proc = run_seqkit("--plugin", "dupcell", "run", "--help", env={"PYTHONPATH": str(tmp_path)})
    _one_line(proc, "cell 'gru' is registered twice: by plugin 'seqkit.cells' and by plugin 'dupcell'")
