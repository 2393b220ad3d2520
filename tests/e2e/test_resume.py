"""Crash-safe training: kill -9 a real `seqkit run` mid-epoch, --resume it, and get the
same weights and metrics, bit for bit, as an uninterrupted run; refuse run directories
that hold another run."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from seqkit.engine import RunConfig, train
from seqkit.errors import ConfigError

from conftest import run_seqkit, wait_for_state

pytestmark = pytest.mark.slow  # real runs, killed and resumed

#: metrics that measure time or describe the run's history, not its result
VOLATILE = {"train_seconds", "wall_seconds", "eval_seconds", "eval_seconds_total", "names_per_second", "tokens_per_second", "resumed", "config",
            "environment"}


@pytest.fixture(scope="module")
def subset(names_subset) -> Path:
    return names_subset


# long enough (about 3 s on the default, compiled path) to be killed after its first checkpoint
ARGS = ["--epochs", "6", "--batch-size", "16", "--hidden-size", "32", "--embedding-dim", "16", "--threads", "1",
        "--checkpoint-every", "7", "--quiet"]


def _weights(out: Path) -> dict:
    return torch.load(out / "checkpoint.pt", weights_only=True)["model"]


def _result(out: Path) -> dict:
    m = json.loads((out / "metrics.json").read_text())
    return {k: v for k, v in m.items() if k not in VOLATILE}


def _history(out: Path) -> list[dict]:
    rows = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    timing = {"epoch_seconds", "eval_seconds", "names_per_second", "tokens_per_second"}
    return [{k: v for k, v in r.items() if k not in timing} for r in rows]


def assert_same_run(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), f"{k} differs after resume"
    assert _result(a) == _result(b)
    assert _history(a) == _history(b)


def _start(out: Path, data: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "seqkit", "run", "--data", str(data), "--out", str(out), *ARGS],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_kill_9_mid_epoch_then_resume_is_bit_for_bit(subset, tmp_path):
    ref = tmp_path / "ref"
    done = run_seqkit("run", "--data", str(subset), "--out", str(ref), *ARGS)
    assert done.returncode == 0, done.stderr
    assert not (ref / "state.pt").exists(), "a finished run keeps checkpoint.pt and metrics.json only"

    out = tmp_path / "killed"
    rng = random.Random(1234)
    kills = 0
    for attempt in range(2):  # kill it twice, at random moments after a checkpoint exists
        proc = _start(out, subset) if attempt == 0 else subprocess.Popen(
            [sys.executable, "-m", "seqkit", "run", "--data", str(subset), "--out", str(out), *ARGS, "--resume"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wait_for_state(out, proc)
        time.sleep(rng.uniform(0.0, 1.5))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
        else:
            assert proc.returncode == 0, proc.stderr.read()
    assert kills >= 1, "the run finished before it could be killed; make it longer"
    # killed at any moment: before the end, state.pt holds the run (a kill while the final
    # files are written leaves both state.pt and metrics.json, and a resume redoes the end)
    assert (out / "state.pt").exists() or (out / "metrics.json").exists()

    # without --resume the interrupted run is refused, not overwritten
    if (out / "state.pt").exists():
        before = (out / "state.pt").read_bytes()
        refused = run_seqkit("run", "--data", str(subset), "--out", str(out), *ARGS)
        assert refused.returncode == 2
        assert "interrupted run" in refused.stderr and "--resume" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr
        assert (out / "state.pt").read_bytes() == before

    resumed = run_seqkit("run", "--data", str(subset), "--out", str(out), *ARGS, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((out / "metrics.json").read_text())["resumed"] is True
    assert not list(out.glob(".tmp-*")), "partial writes must be cleaned up"
    assert_same_run(ref, out)


def small(data: Path, out: Path, **kw) -> RunConfig:
    base = dict(data=str(data), epochs=2, batch_size=32, hidden_size=24, embedding_dim=8, threads=1, quiet=True,
                checkpoint_every=5, out=str(out))
    base.update(kw)
    return RunConfig(**base)


class Crash(Exception):
    pass


@pytest.mark.parametrize("crash_after", [1, 2])  # 2: the last epoch, before the final files
def test_resume_after_a_crash_at_an_epoch_boundary(subset, tmp_path, crash_after):
    train(small(subset, tmp_path / "ref"))

    def crash(record):
        if record["epoch"] == crash_after:
            raise Crash

    with pytest.raises(Crash):
        train(small(subset, tmp_path / "c"), on_epoch=crash)
    state = torch.load(tmp_path / "c" / "state.pt", weights_only=True)
    assert (state["epoch"], state["step"]) == (crash_after + 1, 0)
    assert not (tmp_path / "c" / "metrics.json").exists()
    with pytest.raises(ConfigError, match="interrupted run .*--resume"):
        train(small(subset, tmp_path / "c"))
    m = train(small(subset, tmp_path / "c", resume=True))
    assert m["resumed"] is True
    assert_same_run(tmp_path / "ref", tmp_path / "c")
    # a finished run: --resume has nothing to do and reports the same metrics
    again = train(small(subset, tmp_path / "c", resume=True))
    assert {k: v for k, v in again.items() if k not in VOLATILE} == _result(tmp_path / "c")


def test_resume_with_nothing_to_resume_starts_a_run(subset, tmp_path):
    m = train(small(subset, tmp_path / "fresh", resume=True, epochs=1))
    assert m["resumed"] is False and (tmp_path / "fresh" / "checkpoint.pt").exists()


def test_run_dir_with_another_configuration_is_refused(subset, tmp_path):
    out = tmp_path / "r"
    train(small(subset, out, epochs=1))
    before = (out / "checkpoint.pt").read_bytes()
    with pytest.raises(ConfigError, match=r"another configuration \(hidden-size 24 -> 16\).*--overwrite"):
        train(small(subset, out, epochs=1, hidden_size=16))
    proc = run_seqkit("run", "--data", str(subset), "--out", str(out), "--epochs", "1", "--hidden-size", "16")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "another configuration" in proc.stderr and "Traceback" not in proc.stderr
    assert (out / "checkpoint.pt").read_bytes() == before, "the other run must not be overwritten"
    m = train(small(subset, out, epochs=1, hidden_size=16, overwrite=True))
    assert m["config"]["hidden_size"] == 16
    assert torch.load(out / "checkpoint.pt", weights_only=True)["config"]["hidden_size"] == 16


def test_resume_refuses_changed_data(subset, tmp_path):
    def crash(record):
        raise Crash

    with pytest.raises(Crash):
        train(small(subset, tmp_path / "d"), on_epoch=crash)
    changed = tmp_path / "changed.txt"
    changed.write_text(subset.read_text(encoding="utf-8") + "Zzyzx,English\n", encoding="utf-8")
    cfg = small(subset, tmp_path / "d", resume=True)
    cfg.data = str(changed)
    with pytest.raises(ConfigError, match="another configuration|data changed"):
        train(cfg)


def test_state_file_loads_with_weights_only(subset, tmp_path):
    def crash(record):
        raise Crash

    with pytest.raises(Crash):
        train(small(subset, tmp_path / "w"), on_epoch=crash)
    state = torch.load(tmp_path / "w" / "state.pt", weights_only=True)  # no pickled classes
    assert {"model", "optimizer", "scheduler", "rng", "history", "counters"} <= state.keys()
    assert len(state["rng"]) == 1 and {"torch", "numpy", "python"} <= state["rng"][0].keys()


# -- seq2seq: the final (beam) evaluation must survive a resume -------------------------
S2S_ARGS = ["--task", "seq2seq", "--epochs", "3", "--batch-size", "32", "--hidden-size", "16", "--embedding-dim", "8",
            "--beam", "3", "--threads", "1", "--checkpoint-every", "11", "--quiet"]
CMUDICT_SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "cmudict-sample.dict"


def _state_epoch(out: Path) -> int:
    """The epoch the saved training state continues at (0 while there is none)."""
    try:
        return int(torch.load(out / "state.pt", weights_only=True)["epoch"])
    except (FileNotFoundError, RuntimeError, EOFError, KeyError):
        return 0


def test_seq2seq_kill_9_after_an_epoch_then_resume_matches_the_uninterrupted_run(tmp_path):
    """Killed once an evaluation has happened, a resumed seq2seq run must still end with the
    final beam evaluation: metrics.json (decoder, WER, PER, greedy figures), history and
    weights as in the run that was never interrupted."""
    ref = tmp_path / "ref"
    done = run_seqkit("run", "--data", str(CMUDICT_SAMPLE), "--out", str(ref), *S2S_ARGS)
    assert done.returncode == 0, done.stderr
    assert json.loads((ref / "metrics.json").read_text())["decoder"] == "beam 3"

    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "seqkit", "run", "--data", str(CMUDICT_SAMPLE), "--out", str(out),
                             *S2S_ARGS], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while _state_epoch(out) < 2:  # after the first epoch's evaluation, before the last one
        assert proc.poll() is None, f"run ended before it could be killed: {proc.stderr.read()}"
        assert time.time() < deadline, "no state.pt past epoch 1 appeared"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "metrics.json").exists()

    resumed = run_seqkit("run", "--data", str(CMUDICT_SAMPLE), "--out", str(out), *S2S_ARGS, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((out / "metrics.json").read_text())["resumed"] is True
    assert_same_run(ref, out)
