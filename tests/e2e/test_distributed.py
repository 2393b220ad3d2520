"""Data-parallel training on torch.distributed (gloo, real processes on this machine).

Two processes with --batch-size B must train the model a single process trains with
--batch-size 2B (the same global batches, gradients averaged by DDP): without dropout
the weights agree to float32 rounding (reduction order), the metrics to 1e-6.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import run_seqkit, wait_for_state
from seqkit.data.sampling import BucketBatchSampler

pytestmark = [pytest.mark.slow,  # real torch.distributed processes
              pytest.mark.skipif(not torch.distributed.is_available(), reason="needs torch.distributed (gloo)")]

#: weights: float32 sums reduced in another order; metrics: the same predictions
WEIGHT_ATOL = 1e-5
METRIC_ATOL = 1e-6


@pytest.fixture(scope="module")
def subset(names_subset) -> Path:
    return names_subset


COMMON = ["--epochs", "2", "--hidden-size", "32", "--embedding-dim", "16", "--input-dropout", "0",
          "--head-dropout", "0", "--quiet", "--checkpoint-every", "10"]


@pytest.fixture(scope="module")
def runs(subset, tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp-runs")
    single = run_seqkit("run", "--data", str(subset), "--out", str(root / "single"), "--batch-size", "32",
                        "--threads", "1", *COMMON)
    assert single.returncode == 0, single.stderr
    two = run_seqkit("run", "--data", str(subset), "--out", str(root / "two"), "--batch-size", "16",
                     "--nproc", "2", *COMMON)
    assert two.returncode == 0, two.stderr
    return root


def _metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


def _weights(out: Path) -> dict:
    return torch.load(out / "checkpoint.pt", weights_only=True)["model"]


def test_two_processes_match_one_process_with_the_same_global_batch(runs):
    a, b = _metrics(runs / "single"), _metrics(runs / "two")
    assert (a["world_size"], b["world_size"]) == (1, 2)
    assert a["global_batch_size"] == b["global_batch_size"] == 32
    for key in ("loss", "top1", "top2", "top3", "macro_f1"):
        assert abs(a[key] - b[key]) <= METRIC_ATOL, key
    wa, wb = _weights(runs / "single"), _weights(runs / "two")
    for k in wa:
        assert torch.allclose(wa[k], wb[k], atol=WEIGHT_ATOL, rtol=0), (k, float((wa[k] - wb[k]).abs().max()))
    ha = [json.loads(x) for x in (runs / "single" / "history.jsonl").read_text().splitlines()]
    hb = [json.loads(x) for x in (runs / "two" / "history.jsonl").read_text().splitlines()]
    assert len(hb) == 2, "rank 0 alone writes history (one line per epoch)"
    for ra, rb in zip(ha, hb):
        assert abs(ra["train_loss"] - rb["train_loss"]) < 1e-5  # reduced over ranks
    assert not (runs / "two" / "state.pt").exists()


def _pids_with(text: str) -> list[int]:
    """Processes whose command line contains ``text`` (from /proc)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path("/proc", entry, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline and int(entry) != os.getpid():
                pids.append(int(entry))
    return pids


def test_torchrun_killed_and_resumed_with_two_processes_is_bit_for_bit(runs, subset):
    """Started by torchrun itself, killed (-9, whole process group) after a checkpoint,
    resumed with --nproc 2: the same weights and metrics as the uninterrupted 2-process run."""
    out = runs / "killed"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "seqkit", "run", "--data", str(subset), "--out", str(out), "--batch-size", "16", *COMMON]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    wait_for_state(out, proc)
    time.sleep(0.3)
    killed = proc.poll() is None
    # torchrun starts its workers in sessions of their own: kill every process of this run
    for pid in _pids_with(str(out)):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()
    assert killed, "the run ended before it could be killed"
    deadline = time.time() + 10
    while _pids_with(str(out)) and time.time() < deadline:
        time.sleep(0.05)
    assert not _pids_with(str(out)), "a worker survived kill -9"
    assert not (out / "metrics.json").exists()
    resumed = run_seqkit("run", "--data", str(subset), "--out", str(out), "--batch-size", "16", "--nproc", "2",
                         *COMMON, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    a, b = _metrics(runs / "two"), _metrics(out)
    assert b["resumed"] is True and b["world_size"] == 2
    for key in ("loss", "top1", "macro_f1", "confusion"):
        assert a[key] == b[key], key
    wa, wb = _weights(runs / "two"), _weights(out)
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def test_resume_with_another_number_of_processes_is_refused(subset, tmp_path):
    out = tmp_path / "r"
    args = ["--data", str(subset), "--out", str(out), "--batch-size", "16", *COMMON]
    proc = subprocess.Popen([sys.executable, "-m", "seqkit", "run", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    wait_for_state(out, proc)
    proc.kill()
    proc.wait()
    before = (out / "state.pt").read_bytes()
    refused = run_seqkit("run", *args, "--resume", "--nproc", "2")
    assert refused.returncode == 2, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "1 process(es), not 2" in lines[0], refused.stderr
    assert (out / "state.pt").read_bytes() == before


def test_bad_input_under_nproc_is_one_line(tmp_path):
    proc = run_seqkit("run", "--data", str(tmp_path / "missing.txt"), "--nproc", "2", "--epochs", "1",
                      "--out", str(tmp_path / "o"))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("seqkit: error:") and "missing.txt" in lines[0], proc.stderr


@pytest.mark.parametrize("n,batch,world", [(1000, 16, 2), (1001, 16, 2), (33, 16, 2), (97, 8, 3), (5, 4, 3)])
def test_sampler_shares_are_disjoint_equal_in_steps_and_form_the_single_process_batches(n, batch, world):
    lengths = np.random.default_rng(n).integers(1, 20, size=n)
    single = BucketBatchSampler(lengths, batch * world, seed=3)
    ranks = [BucketBatchSampler(lengths, batch, seed=3, num_replicas=world, rank=r) for r in range(world)]
    for epoch in (1, 2):
        single.set_epoch(epoch)
        for s in ranks:
            s.set_epoch(epoch)
        per_rank = [list(s) for s in ranks]
        assert len({len(p) for p in per_rank}) == 1 and len(per_rank[0]) == len(ranks[0])
        assert all(len(b) > 0 for p in per_rank for b in p), "no rank may get an empty batch"
        merged = [sorted(sum((p[i] for p in per_rank), [])) for i in range(len(per_rank[0]))]
        flat = sorted(i for b in merged for i in b)
        assert flat == list(range(n)), "every example exactly once per epoch, on one rank"
        reference = [sorted(b) for b in single.batches()]
        if len(reference) > len(merged):  # a tail smaller than the world is merged into a batch before it
            tail = min(reference, key=len)
            assert len(tail) < world and len(reference) == len(merged) + 1
            others = [b for b in merged if b in reference]
            assert len(others) == len(merged) - 1, "all but the enlarged batch are the single process's"
        else:
            assert merged == reference


def test_sampler_start_skips_exactly_the_steps_already_taken():
    lengths = np.arange(1, 101) % 9 + 1
    s = BucketBatchSampler(lengths, 8, seed=1)
    s.set_epoch(4)
    full = list(s)
    s.set_epoch(4, start=5)
    assert list(s) == full[5:]
    assert len(s) == len(full)
