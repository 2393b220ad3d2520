"""The real ``seqkit`` command in subprocesses: an end-to-end run, predict, eval, errors."""
from __future__ import annotations

import json

import pytest
import torch

from conftest import run_seqkit

pytestmark = pytest.mark.slow  # the real seqkit in subprocesses

METRIC_KEYS = {"top1", "top2", "top3", "macro_f1", "per_class", "confusion", "labels", "baseline_top1", "epochs",
               "train_seconds", "names_per_second", "config"}


@pytest.fixture(scope="module")
def trained(names_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "r"
    proc = run_seqkit("run", "--data", str(names_path), "--epochs", "1", "--hidden-size", "32", "--batch-size", "128",
                      "--out", str(out), "--json", "--quiet")
    assert proc.returncode == 0, proc.stderr
    return out, json.loads(proc.stdout)


def test_run_writes_the_run_directory(trained):
    out, metrics = trained
    assert METRIC_KEYS <= set(metrics)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["top1"] == metrics["top1"] and METRIC_KEYS <= set(saved)
    assert len(saved["labels"]) == 18 and len(saved["confusion"]) == 18
    assert sum(map(sum, saved["confusion"])) == 4015 == saved["split"]["test"]
    assert saved["baseline_top1"] == pytest.approx(0.4687, abs=1e-3)  # majority class (Russian)
    assert saved["top1"] > saved["baseline_top1"]  # one epoch already beats the majority class
    assert saved["top1"] <= saved["top2"] <= saved["top3"] <= 1
    assert saved["names_per_second"] > 0 and saved["epochs"] == 1
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1] and history[0]["top1"] == saved["top1"]
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ckpt["task_state"]["labels"] == saved["labels"] and ckpt["config"]["hidden_size"] == 32
    assert ckpt["encoder"]["name"] == "index" and ckpt["encoder"]["state"]["alphabet"]
    for png in ("loss.png", "confusion.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_predict_and_eval_from_checkpoint(trained):
    out, metrics = trained
    proc = run_seqkit("predict", "--checkpoint", str(out / "checkpoint.pt"), "Ivanov", "Nakamura", "--top-k", "2",
                      "--json")
    assert proc.returncode == 0, proc.stderr
    preds = json.loads(proc.stdout)
    assert [p["text"] for p in preds] == ["Ivanov", "Nakamura"]
    assert all(len(p["predictions"]) == 2 for p in preds)
    probs = [q["probability"] for q in preds[0]["predictions"]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    text = run_seqkit("predict", "--checkpoint", str(out / "checkpoint.pt"), "Ivanov")
    assert text.returncode == 0 and text.stdout.startswith("Ivanov")

    ev = run_seqkit("eval", "--checkpoint", str(out / "checkpoint.pt"), "--json")
    assert ev.returncode == 0, ev.stderr
    again = json.loads(ev.stdout)
    assert again["examples"] == 4015 and again["top1"] == pytest.approx(metrics["top1"], abs=1e-9)


def test_eval_on_other_data(trained, tmp_path):
    out, _ = trained
    (tmp_path / "more.txt").write_text("Ivanov,Russian\nSmith,English\n", encoding="utf-8")
    ev = run_seqkit("eval", "--checkpoint", str(out / "checkpoint.pt"), "--data", str(tmp_path / "more.txt"), "--json")
    assert ev.returncode == 0, ev.stderr
    assert json.loads(ev.stdout)["examples"] == 2
    (tmp_path / "alien.txt").write_text("Zorg,Martian\n", encoding="utf-8")
    bad = run_seqkit("eval", "--checkpoint", str(out / "checkpoint.pt"), "--data", str(tmp_path / "alien.txt"))
    assert bad.returncode == 2 and "Martian" in bad.stderr and "Traceback" not in bad.stderr


def _one_line_error(proc, *needles):
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    text = lines[0]
    for needle in needles:
        assert needle in text, text
    return text


def test_unknown_cell_suggests(names_path):
    from seqkit import registry

    _one_line_error(run_seqkit("run", "--data", str(names_path), "--cell", "grux"),
                    "unknown cell 'grux'; did you mean 'gru'?", "available: " + ", ".join(registry.cells.names()),
                    "seqkit run --help")
    _one_line_error(run_seqkit("run", "--epochs", "many"), "'many' is not a valid integer")
    _one_line_error(run_seqkit("frobnicate"), "No such command 'frobnicate'")


def test_bad_inputs_give_one_line_and_status_2(names_path, tmp_path):
    _one_line_error(run_seqkit("run", "--data", str(tmp_path / "missing")), "no such file or directory", "--data")
    (tmp_path / "empty.txt").write_text("")
    _one_line_error(run_seqkit("run", "--data", str(tmp_path / "empty.txt")), "contains no")
    (tmp_path / "bad.txt").write_text("Smith,English\nnocomma\n")
    _one_line_error(run_seqkit("run", "--data", str(tmp_path / "bad.txt")), f"{tmp_path / 'bad.txt'}:2",
                    "expected 'name,language'")
    (tmp_path / "latin1.txt").write_bytes(b"M\xfcller,German\n")
    _one_line_error(run_seqkit("run", "--data", str(tmp_path / "latin1.txt")), "invalid UTF-8 at byte offset 1")
    _one_line_error(run_seqkit("run", "--data", str(names_path), "--epochs", "0"), "--epochs must be at least 1")
    _one_line_error(run_seqkit("run", "--data", str(names_path), "--optimizer", "sgd", "--lr", "1e30", "--clip", "0",
                               "--schedule", "none", "--epochs", "1", "--hidden-size", "8", "--batch-size", "512",
                               "--out", str(tmp_path / "nan"), "--quiet"),
                    "non-finite", "at epoch 1, step", "--nan-policy skip")
    _one_line_error(run_seqkit("run", "--data", str(names_path), "-o", "nonsense"), "COMPONENT.OPTION=VALUE")
    _one_line_error(run_seqkit("predict", "--checkpoint", str(tmp_path / "nope.pt"), "x"), "no such checkpoint")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    _one_line_error(run_seqkit("predict", "--checkpoint", str(tmp_path / "junk.pt"), "x"), "not a loadable")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_cuda_without_cuda(names_path):
    _one_line_error(run_seqkit("run", "--data", str(names_path), "--device", "cuda"),
                    "--device cuda: CUDA is not available", "--device cpu")


def test_help_lists_registry_choices_and_completion_works():
    proc = run_seqkit("run", "--help")
    assert proc.returncode == 0
    for name in ("gru", "lstm", "rnn", "name2lang", "csv", "onehot", "index", "pack", "pad"):
        assert name in proc.stdout
    comp = run_seqkit(env={"_SEQKIT_COMPLETE": "bash_complete", "COMP_WORDS": "seqkit run --cell g", "COMP_CWORD": "3"})
    assert comp.returncode == 0 and "gru" in comp.stdout and "lstm" not in comp.stdout
