"""Checkpoints written by seqkit 0.1 (before the package was reorganised) still load and
predict what 0.1 predicted from them (tests/fixtures/README.md says how they were made)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from conftest import run_seqkit
from seqkit.engine import evaluate_run, load_run, predict

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checkpoints"
RECORDED = json.loads((FIXTURES / "predictions-0.1.0.json").read_text("utf-8"))
CASES = ["classify-0.1.0", "classify-fused-onehot-0.1.0", "seq2seq-0.1.0"]


def _same(got, want):
    """Predictions equal the recorded ones: labels and tokens exactly, probabilities to 1e-6."""
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert [{k: v for k, v in p.items() if k != "probability"} for p in g] == \
            [{k: v for k, v in p.items() if k != "probability"} for p in w]
        assert [p["probability"] for p in g] == pytest.approx([p["probability"] for p in w], rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("name", CASES)
def test_a_0_1_checkpoint_loads_and_predicts_as_0_1_did(name):
    ckpt = torch.load(FIXTURES / f"{name}.pt", weights_only=True)
    assert ckpt["format_version"] == 1 and ckpt["seqkit_version"] == "0.1.0"
    loaded = load_run(str(FIXTURES / f"{name}.pt"))
    options = {"beam": 3} if name.startswith("seq2seq") else {}
    _same(predict(loaded, RECORDED[name]["texts"], top_k=3, **options), RECORDED[name]["predictions"])


def test_0_1_labels_and_balance_become_the_classify_task_s_own():
    loaded = load_run(str(FIXTURES / "classify-fused-onehot-0.1.0.pt"))
    ckpt = torch.load(FIXTURES / "classify-fused-onehot-0.1.0.pt", weights_only=True)
    assert loaded.task.labels == ckpt["labels"] and len(loaded.task.labels) == 18
    assert ckpt["config"]["balance"] == "loss" and loaded.config.task_options == {"balance": "loss"}
    assert loaded.model.input_layer.pass_indices  # fused-gru declares the indices capability


@pytest.mark.slow
def test_the_cli_predicts_and_evaluates_a_0_1_checkpoint(names_path):
    name = "classify-0.1.0"
    proc = run_seqkit("predict", "--checkpoint", str(FIXTURES / f"{name}.pt"), "--json", *RECORDED[name]["texts"])
    assert proc.returncode == 0, proc.stderr
    _same([r["predictions"] for r in json.loads(proc.stdout)], RECORDED[name]["predictions"])
    loaded = load_run(str(FIXTURES / f"{name}.pt"))
    metrics = evaluate_run(loaded, str(names_path))
    assert metrics["examples"] == 20074 and 0.0 < metrics["top1"] <= 1.0
