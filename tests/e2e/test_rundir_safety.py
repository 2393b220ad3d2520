"""The run directory under hostile conditions, with the real CLI in subprocesses: two runs
on one --out at once, a finished run or the user's own files in --out, data that changed
in a way lengths and labels do not show, checkpoints whose weights do not fit, unsafe
checkpoints, and checkpoints whose plugin is gone. Every case is one line and exit
status 2, and nothing in --out is lost."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import run_seqkit, wait_for_state

pytestmark = pytest.mark.slow  # real runs in subprocesses, some of them at once

SMALL = ["--batch-size", "32", "--hidden-size", "16", "--embedding-dim", "8", "--threads", "1", "--quiet"]


def _popen(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "seqkit", "run", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})


def _one_line(proc) -> str:
    """The refusal of a finished process: exit status 2 and exactly one line, no traceback."""
    err = proc.stderr if isinstance(proc.stderr, str) else proc.stderr.read()
    assert proc.returncode == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("seqkit: error: ") and "Traceback" not in err, err
    return lines[0]


def _epochs(out: Path) -> list[int]:
    return [json.loads(line)["epoch"] for line in (out / "history.jsonl").read_text().splitlines()]


def _snapshot(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file() and p.name != ".lock"}


# -- 1. one run per --out at a time ------------------------------------------------------
def test_two_runs_started_together_on_one_out_one_is_refused(names_subset, tmp_path):
    """Both start on an empty --out: one trains, the other is refused naming it (before the
    lock both exited 0 and history.jsonl held epochs 1, 1, 2, 2, ...)."""
    out = tmp_path / "same"
    args = ["--data", str(names_subset), "--out", str(out), "--epochs", "8", *SMALL]
    a, b = _popen(*args), _popen(*args)
    a.wait(timeout=300)
    b.wait(timeout=300)
    ok, refused = (a, b) if a.returncode == 0 else (b, a)
    assert ok.returncode == 0, ok.stderr.read()
    line = _one_line(refused)
    assert f"--out {out} is in use by seqkit run (pid {ok.pid})" in line, line
    assert "wait for it or choose another --out" in line
    assert _epochs(out) == list(range(1, 9))
    assert not (out / "state.pt").exists() and not (out / ".lock").exists()


def test_a_second_run_while_the_first_trains_is_refused_whatever_its_flags(names_subset, tmp_path):
    """Started while the first run trains (it has saved a state.pt), a second run is refused
    with or without --resume or --overwrite (without the lock --resume continued the running
    run's state and --overwrite deleted it, and both exited 0); the first run ends intact."""
    out = tmp_path / "busy"
    args = ["--data", str(names_subset), "--out", str(out), "--epochs", "30", "--checkpoint-every", "5", *SMALL]
    first = _popen(*args)
    wait_for_state(out, first)
    seconds = [_popen(*args, *extra) for extra in ([], ["--resume"], ["--overwrite"])]
    for proc in seconds:
        proc.wait(timeout=300)
    assert first.poll() is None, "the first run ended before the others were refused; make it longer"
    for proc in seconds:
        line = _one_line(proc)
        assert f"--out {out} is in use by seqkit run (pid {first.pid}) since " in line, line
    assert first.wait(timeout=600) == 0, first.stderr.read()
    assert _epochs(out) == list(range(1, 31))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["resumed"] is False and metrics["epochs"] == 30


def test_a_kill_9_leaves_no_lock_that_blocks_resume_even_with_loader_workers(names_subset, tmp_path):
    """kill -9 of the run (its DataLoader worker, which shares the lock, outlives it for a
    moment): the dead owner's lock file does not block --resume."""
    out = tmp_path / "killed"
    args = ["--data", str(names_subset), "--out", str(out), "--epochs", "6", "--checkpoint-every", "5",
            "--workers", "1", *SMALL]
    proc = _popen(*args)
    wait_for_state(out, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    owner = json.loads((out / ".lock").read_text())
    assert owner["pid"] == proc.pid, owner
    resumed = run_seqkit("run", *args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((out / "metrics.json").read_text())["resumed"] is True
    assert _epochs(out) == [1, 2, 3, 4, 5, 6] and not (out / ".lock").exists()


# -- 2. nothing in --out is replaced without --overwrite ---------------------------------
def test_a_finished_run_is_not_trained_again_without_overwrite(names_subset, tmp_path):
    out = tmp_path / "done"
    out.mkdir()  # an empty existing directory is fine
    args = ["--data", str(names_subset), "--out", str(out), "--epochs", "1", *SMALL]
    first = run_seqkit("run", *args, "--json")
    assert first.returncode == 0, first.stderr
    top1 = json.loads(first.stdout)["top1"]
    before = _snapshot(out)

    again = run_seqkit("run", *args)
    line = _one_line(again)
    assert f"--out {out} holds a finished run (top1 {top1:.4f}, " in line, line
    assert "pass --overwrite to train it again, or --resume (nothing to do)" in line
    assert _snapshot(out) == before, "the finished run must not be touched"

    nothing = run_seqkit("run", *args, "--resume", "--json")
    assert nothing.returncode == 0, nothing.stderr
    assert json.loads(nothing.stdout)["top1"] == top1 and _snapshot(out) == before

    retrained = run_seqkit("run", *args, "--overwrite")
    assert retrained.returncode == 0, retrained.stderr
    assert _epochs(out) == [1] and not (out / "state.pt").exists()


def test_a_directory_of_the_user_s_own_files_is_not_overwritten(names_subset, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "metrics.json").write_text('{"my": "numbers"}\n')
    (out / "notes.txt").write_text("do not lose me\n")
    before = _snapshot(out)
    args = ["--data", str(names_subset), "--out", str(out), "--epochs", "1", *SMALL]
    for extra in ([], ["--resume"]):
        line = _one_line(run_seqkit("run", *args, *extra))
        assert f"--out {out} holds files that are not a seqkit run (metrics.json, notes.txt)" in line, line
        assert "--overwrite" in line
        assert _snapshot(out) == before
    forced = run_seqkit("run", *args, "--overwrite")
    assert forced.returncode == 0, forced.stderr
    assert (out / "notes.txt").read_text() == "do not lose me\n"
    assert "top1" in json.loads((out / "metrics.json").read_text())


# -- 3. --resume on data that changed where lengths and labels do not show --------------
def _interrupted(data: Path, out: Path, *extra: str) -> list[str]:
    """A run on ``data`` killed after its first saved state; returns its arguments."""
    args = ["--data", str(data), "--out", str(out), "--epochs", "3", "--checkpoint-every", "5", *SMALL, *extra]
    proc = _popen(*args)
    wait_for_state(out, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return args


def test_resume_refuses_a_new_character_in_the_data(names_subset, tmp_path):
    """The same lengths, labels and split with one character no name had: before, the
    fingerprint matched and the resume died in load_state_dict (87 vs 88 symbols)."""
    data = tmp_path / "names.txt"
    text = names_subset.read_text(encoding="utf-8")
    data.write_text(text, encoding="utf-8")
    args = _interrupted(data, tmp_path / "r")
    assert "\u0416" not in text
    name = text.splitlines()[0].split(",")[0]
    data.write_text(text.replace(name + ",", name[:-1] + "\u0416,", 1), encoding="utf-8")  # same length
    line = _one_line(run_seqkit("run", *args, "--resume"))
    assert "the data changed since this run started" in line and "--overwrite" in line, line


def test_resume_refuses_texts_changed_within_the_same_characters(names_subset, tmp_path):
    """Two characters of a name swapped: lengths, labels and symbols alike; before, the run
    resumed silently on other data."""
    data = tmp_path / "names.txt"
    lines = names_subset.read_text(encoding="utf-8").splitlines()
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = _interrupted(data, tmp_path / "r")
    i = next(i for i, ln in enumerate(lines) if len(ln.split(",")[0]) > 3 and ln[1] != ln[2])
    name, label = lines[i].split(",")
    lines[i] = f"{name[0]}{name[2]}{name[1]}{name[3:]},{label}"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    line = _one_line(run_seqkit("run", *args, "--resume"))
    assert "the data changed since this run started" in line, line


def test_resume_refuses_changed_seq2seq_targets(tmp_path):
    """seq2seq: the same texts with one phoneme changed (the target vocabulary too)."""
    sample = Path(__file__).resolve().parents[1] / "fixtures" / "cmudict-sample.dict"
    data = tmp_path / "sample.dict"
    lines = sample.read_text(encoding="utf-8").splitlines()
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = _interrupted(data, tmp_path / "r", "--task", "seq2seq", "--beam", "2")
    i = next(i for i, ln in enumerate(lines) if " AH0" in ln and "(" not in ln.split(" ")[0])
    lines[i] = lines[i].replace(" AH0", " EH0", 1)  # another phoneme (stress marks are dropped)
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    line = _one_line(run_seqkit("run", *args, "--resume"))
    assert "the data changed since this run started" in line, line


# -- 4. weights that do not fit ----------------------------------------------------------
def test_a_state_whose_weights_do_not_fit_is_one_line_naming_the_file(names_subset, tmp_path):
    out = tmp_path / "r"
    args = _interrupted(names_subset, out)
    state = torch.load(out / "state.pt", weights_only=True)
    state["model"]["head.w"] = state["model"].pop("head.weight")  # as another version would name it
    torch.save(state, out / "state.pt")
    line = _one_line(run_seqkit("run", *args, "--resume"))
    assert f"{out / 'state.pt'}: the weights do not fit the model: 1 missing key (head.weight), " \
           f"1 unexpected (head.w)" in line, line
    assert "--overwrite" in line


def test_predict_with_weights_that_do_not_fit_is_one_line(tmp_path):
    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "checkpoints"
    ckpt = torch.load(fixtures / "classify-0.1.0.pt", weights_only=True)
    ckpt["model"]["head.weight"] = torch.zeros(5, 16)
    bad = tmp_path / "checkpoint.pt"
    torch.save(ckpt, bad)
    line = _one_line(run_seqkit("predict", "--checkpoint", str(bad), "Smith"))
    assert f"{bad}: the weights do not fit the model: size mismatch for head.weight: [5, 16] in the checkpoint, " \
           f"[18, 16] in the model" in line, line


# -- 5. unsafe checkpoints ---------------------------------------------------------------
class _Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


@pytest.mark.parametrize("command", ["predict", "eval", "export"])
def test_an_unsafe_checkpoint_is_refused_without_torch_s_advice(tmp_path, command):
    evil = tmp_path / "checkpoint.pt"
    torch.save({"format": "seqkit-checkpoint", "model": _Payload()}, evil)
    args = {"predict": ["Smith"], "eval": [], "export": ["--format", "onnx", "-o", str(tmp_path / "m.onnx")]}
    proc = run_seqkit(command, "--checkpoint", str(evil), *args[command], cwd=str(tmp_path))
    line = _one_line(proc)
    assert f"{evil}: not a loadable seqkit checkpoint: it is not a safe seqkit checkpoint (it holds Python objects " \
           f"that would run code when loaded" in line, line
    assert line.endswith("seqkit loads only plain tensors and values: do not load it with weights_only=False"), line
    assert "Re-running" not in proc.stderr and "Warning" not in proc.stderr
    assert not (tmp_path / "PWNED").exists()


# -- 6. a checkpoint whose plugin is not installed ---------------------------------------
PLUGIN = '''
import torch
from seqkit import hookimpl

def my_gru(input_size, hidden_size, **kw):
    return torch.nn.GRU(input_size, hidden_size, **kw)

@hookimpl
def seqkit_register_cells(register):
    register("my-gru", my_gru, help="torch's GRU under another name")
'''


def test_a_checkpoint_of_a_plugin_module_that_is_not_loaded_names_it(names_subset, tmp_path):
    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "mygru_plugin.py").write_text(PLUGIN, encoding="utf-8")
    out = tmp_path / "r"
    env = {"PYTHONPATH": str(mods)}
    proc = run_seqkit("--plugin", "mygru_plugin", "run", "--data", str(names_subset), "--out", str(out), "--epochs",
                      "1", "--cell", "my-gru", *SMALL, env=env)
    assert proc.returncode == 0, proc.stderr
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ckpt["components"]["cell"] == {"name": "my-gru", "plugin": "mygru_plugin", "distribution": None,
                                          "version": None}
    assert ckpt["components"]["task"]["plugin"] == "seqkit.classify"
    assert ckpt["components"]["task"]["distribution"] == "seqkit"
    assert set(ckpt["components"]) == {"dataset", "encoder", "collator", "cell", "task"}
    for command in (["predict", "Smith"], ["eval"]):
        line = _one_line(run_seqkit(command[0], "--checkpoint", str(out / "checkpoint.pt"), *command[1:], env=env))
        assert f"{out / 'checkpoint.pt'} was trained with cell 'my-gru', which no installed plugin provides (it " \
               f"came from plugin 'mygru_plugin'" in line and "seqkit --plugin mygru_plugin" in line, line
    ok = run_seqkit("--plugin", "mygru_plugin", "predict", "--checkpoint", str(out / "checkpoint.pt"), "Smith",
                    env=env)
    assert ok.returncode == 0, ok.stderr


@pytest.mark.install
def test_a_checkpoint_of_an_uninstalled_package_names_the_package(plugin_env, names_subset, tmp_path):
    out = tmp_path / "r"
    args = ["--data", str(names_subset), "--out", str(out), "--epochs", "6", "--checkpoint-every", "5",
            "--cell", "tiny-rnn", "--unidirectional", *SMALL]
    # seqkit.cli.docs.render() (tests/unit/test_docs.py) sets SEQKIT_DISABLE_PLUGIN_AUTOLOAD in this process
    proc = _popen(*args, env={**plugin_env, "SEQKIT_DISABLE_PLUGIN_AUTOLOAD": "", "SEQKIT_LOAD_PLUGINS": ""})
    wait_for_state(out, proc)
    state = torch.load(out / "state.pt", weights_only=True)  # read while the run goes on (epoch 1 of 6)
    assert state["components"]["cell"] == {"name": "tiny-rnn", "plugin": "testplugin",
                                           "distribution": "seqkit-testplugin", "version": "0.3.1"}
    assert proc.wait(timeout=600) == 0, proc.stderr.read()
    line = _one_line(run_seqkit("predict", "--checkpoint", str(out / "checkpoint.pt"), "Smith"))
    assert f"{out / 'checkpoint.pt'} was trained with cell 'tiny-rnn', which no installed plugin provides (it came " \
           f"from plugin 'testplugin', package seqkit-testplugin 0.3.1); pip install it" in line, line
