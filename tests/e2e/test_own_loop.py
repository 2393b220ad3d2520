"""examples/own_loop.py (the Python API in your own loop) runs and reaches the accuracy that
docs/python-api.md says it prints."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow  # trains a model in a subprocess


def test_the_own_loop_example_reaches_its_documented_accuracy(names_path):
    doc = (ROOT / "docs" / "python-api.md").read_text("utf-8")
    documented = float(re.search(r"epoch 4: loss [\d.]+, test top-1 ([\d.]+)", doc).group(1))
    floor = float(re.search(r"requires at least (\d+\.\d+)", doc).group(1))
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "own_loop.py"), str(names_path), "4"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    top1 = float(re.search(r"test top-1 ([\d.]+)", last).group(1))
    assert last.startswith("epoch 4:")
    assert top1 >= floor and abs(top1 - documented) <= 0.01, last
    code = (ROOT / "examples" / "own_loop.py").read_text("utf-8")
    assert len([ln for ln in code.splitlines() if ln.strip()]) <= 45
