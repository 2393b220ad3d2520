"""The default ``seqkit run`` (``--cell auto --collator auto``) in subprocesses: the compiled
path where the extension loads, torch's nn.GRU and pack with exactly one warning line where
it does not (``SEQKIT_BACKEND=reference`` switches it off for real: the ops never load)."""
from __future__ import annotations

import json

import pytest
import torch

from conftest import cpp_available, run_seqkit

pytestmark = pytest.mark.slow  # the real seqkit in subprocesses

SMALL = ["--epochs", "1", "--hidden-size", "8", "--embedding-dim", "8", "--batch-size", "64", "--threads", "1",
         "--device", "cpu"]
OFF = {"SEQKIT_BACKEND": "reference"}
FALLBACK = ("seqkit: warning: compiled ops unavailable (SEQKIT_BACKEND=reference): this run uses torch's nn.GRU and "
            "pack (--cell gru --collator pack), the same model, slower; for the compiled path (fused-gru, "
            "fused-pack) unset SEQKIT_BACKEND")


def _run(data, out, *args, env=None):
    proc = run_seqkit("run", "--data", str(data), *SMALL, "--out", str(out), *args, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    return proc


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "warning" in line.lower()]


def _saved(out) -> tuple[dict, dict]:
    return (json.loads((out / "metrics.json").read_text()),
            torch.load(out / "checkpoint.pt", weights_only=True))


def test_without_the_extension_the_default_run_is_torch_s_with_one_warning_line(names_subset, tmp_path):
    out = tmp_path / "off"
    proc = _run(names_subset, out, env=OFF)
    assert _warnings(proc.stderr) == [FALLBACK]  # exactly once, one line
    assert "model: gru (torch) x1 bidirectional" in proc.stderr and "by pack (torch)" in proc.stderr
    metrics, ckpt = _saved(out)
    assert metrics["path"] == {"cell": "gru", "cell_runs": "torch", "collator": "pack", "collator_runs": "torch",
                               "backend": "reference"}
    for config in (metrics["config"], ckpt["config"]):
        assert (config["cell"], config["collator"]) == ("gru", "pack")  # concrete names, never "auto"
    assert ckpt["components"]["cell"]["name"] == "gru"
    assert ckpt["components"]["collator"]["plugin"] == "seqkit.collators"
    # --quiet: the warning is all there is to say
    quiet = _run(names_subset, tmp_path / "quiet", "--quiet", env=OFF)
    assert quiet.stderr.splitlines() == [FALLBACK] and not quiet.stdout
    # the same command again finds the same configuration: a finished run, nothing to do
    again = _run(names_subset, out, "--resume", env=OFF)
    assert "holds a finished run; nothing to do" in again.stderr and _warnings(again.stderr) == [FALLBACK]


def test_with_the_extension_the_default_run_takes_the_compiled_path(names_subset, tmp_path):
    if not cpp_available():
        pytest.skip("needs the compiled ops")
    out = tmp_path / "on"
    proc = _run(names_subset, out, env={"SEQKIT_BACKEND": "auto"})
    assert not _warnings(proc.stderr), proc.stderr
    assert "model: fused-gru (compiled cpu kernels) x1 bidirectional" in proc.stderr
    assert "by fused-pack (compiled cpu kernels)" in proc.stderr
    metrics, ckpt = _saved(out)
    assert metrics["path"] == {"cell": "fused-gru", "cell_runs": "compiled cpu kernels", "collator": "fused-pack",
                               "collator_runs": "compiled cpu kernels", "backend": "cpp"}
    for config in (metrics["config"], ckpt["config"]):
        assert (config["cell"], config["collator"]) == ("fused-gru", "fused-pack")
    predicted = run_seqkit("predict", "--checkpoint", str(out / "checkpoint.pt"), "--json", "Ivanov", "Nakamura")
    assert predicted.returncode == 0 and len(json.loads(predicted.stdout)) == 2, predicted.stderr
    again = _run(names_subset, out, "--resume", env={"SEQKIT_BACKEND": "auto"})
    assert "holds a finished run; nothing to do" in again.stderr
    # the torch reference is two flags away, and says so
    ref = _run(names_subset, tmp_path / "ref", "--cell", "gru", "--collator", "pack", env={"SEQKIT_BACKEND": "auto"})
    assert not _warnings(ref.stderr) and "model: gru (torch)" in ref.stderr
    assert json.loads((tmp_path / "ref" / "metrics.json").read_text())["path"] == {
        "cell": "gru", "cell_runs": "torch", "collator": "pack", "collator_runs": "torch", "backend": "cpp"}
