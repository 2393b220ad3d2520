"""examples/seqkit-indrnn really installed (pip, entry points and all) and used through the CLI."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, run_seqkit

pytestmark = [pytest.mark.install, pytest.mark.slow]  # pip installs examples/seqkit-indrnn

EXAMPLE = ROOT / "examples" / "seqkit-indrnn"


@pytest.fixture(scope="module")
def example_copy(tmp_path_factory) -> Path:
    """A clean copy of the example (pip's in-tree build leaves build/ and *.egg-info behind)."""
    dest = tmp_path_factory.mktemp("example") / "seqkit-indrnn"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__",
                                                                 ".pytest_cache"))
    return dest


@pytest.fixture(scope="module")
def indrnn_site(tmp_path_factory, example_copy) -> Path:
    site = tmp_path_factory.mktemp("indrnn-site")
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--target", str(site), str(example_copy)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (info,) = site.glob("seqkit_indrnn-0.1.0.dist-info")
    assert "indrnn = seqkit_indrnn.plugin" in (info / "entry_points.txt").read_text()
    return site


@pytest.fixture
def indrnn_env(indrnn_site) -> dict:
    path = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": str(indrnn_site) + (os.pathsep + path if path else "")}


def test_plugins_lists_the_cell_and_dataset_with_plugin_and_version(indrnn_env):
    proc = run_seqkit("plugins", "--json", env=indrnn_env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    cells = {e["name"]: e for e in data["registries"]["cells"]}
    datasets = {e["name"]: e for e in data["registries"]["datasets"]}
    assert cells["indrnn"]["plugin"] == "indrnn" and cells["indrnn"]["version"] == "0.1.0"
    assert "IndRNN" in cells["indrnn"]["help"]
    assert datasets["lines"]["plugin"] == "indrnn" and datasets["lines"]["version"] == "0.1.0"
    plugin = next(p for p in data["plugins"] if p["name"] == "indrnn")
    assert plugin["distribution"] == "seqkit-indrnn" and plugin["version"] == "0.1.0" and not plugin["builtin"]
    assert not [f for f in data["failures"] if f["plugin"] == "indrnn"]

    text = run_seqkit("plugins", env=indrnn_env)
    assert text.returncode == 0 and "indrnn 0.1.0" in text.stdout


def test_run_trains_an_indrnn_on_the_real_names(indrnn_env, names_path, tmp_path):
    out = tmp_path / "run"
    proc = run_seqkit("run", "--cell", "indrnn", "--data", str(names_path), "--epochs", "1", "--hidden-size", "32",
                      "--embedding-dim", "32", "--batch-size", "128", "--quiet", "--json", "--out", str(out),
                      env=indrnn_env)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(proc.stdout.strip().splitlines()[-1])
    assert 0.0 <= metrics["top1"] <= 1.0 and metrics["top1"] > metrics["baseline_top1"], metrics
    assert (out / "checkpoint.pt").exists()

    pred = run_seqkit("predict", "--checkpoint", str(out / "checkpoint.pt"), "--json", "Nakamura", env=indrnn_env)
    assert pred.returncode == 0, pred.stderr
    (row,) = json.loads(pred.stdout)
    assert row["text"] == "Nakamura" and len(row["predictions"]) == 3


def test_run_with_the_plugin_dataset(indrnn_env, tmp_path):
    # --schedule cosine: with exactly 4 optimizer steps onecycle's LR warm-up phase is empty and
    # torch's OneCycleLR divides by zero (an engine issue, reported separately).
    data = tmp_path / "pairs.tsv"
    rows = [f"{n}\tJapanese" for n in ("Abe", "Sato", "Ito", "Kato", "Mori", "Ueda", "Ono", "Oda", "Iwata", "Sano")]
    rows += [f"{n}\tRussian" for n in ("Ivanov", "Petrov", "Orlov", "Popov", "Belov", "Sokolov", "Volkov", "Zaitsev",
                                       "Lebedev", "Kozlov")]
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    proc = run_seqkit("run", "--dataset", "lines", "--data", str(data), "--cell", "indrnn", "--epochs", "1",
                      "--hidden-size", "8", "--embedding-dim", "8", "--batch-size", "4", "--schedule", "cosine",
                      "--quiet", "--json",
                      "--out", str(tmp_path / "run"), env=indrnn_env)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(proc.stdout.strip().splitlines()[-1])
    assert sorted(metrics["labels"]) == ["Japanese", "Russian"]


def test_the_example_tests_pass_against_the_installed_package(indrnn_env, example_copy):
    env = {**os.environ, **indrnn_env}
    env.pop("SEQKIT_STRICT_PLUGINS", None)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                          cwd=example_copy, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout
    # the package came from the install, not from the source folder
    where = subprocess.run([sys.executable, "-c", "import seqkit_indrnn; print(seqkit_indrnn.__file__)"],
                           cwd=example_copy, env=env, capture_output=True, text=True, timeout=60)
    assert where.stdout.strip().startswith(indrnn_env["PYTHONPATH"].split(os.pathsep)[0])
