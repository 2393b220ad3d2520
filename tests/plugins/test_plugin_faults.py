"""Plugin faults and security: a plugin's factory that raises is named in one line, other
plugins keep working; plugins load only from entry points or an explicit --plugin MODULE;
checkpoints never unpickle code."""
from __future__ import annotations

import json
import pickle
import textwrap

import pytest

from conftest import run_seqkit

FAULTY = textwrap.dedent('''
    from seqkit import hookimpl

    def refusing(path=None, on_bad_line="error", **options):
        raise ValueError("needs -o dataset.region=...")

    def crashing(path=None, on_bad_line="error", **options):
        raise RuntimeError("boom in the factory")

    @hookimpl
    def seqkit_register_datasets(register):
        register("refusing", refusing, help="refuses its options")
        register("crashing", crashing, help="raises")
''')


@pytest.fixture
def plugin_dir(tmp_path):
    d = tmp_path / "mods"
    d.mkdir()
    (d / "faulty_plugin.py").write_text(FAULTY, encoding="utf-8")
    return d


@pytest.mark.parametrize("dataset, words", [("refusing", "refused its options: needs -o dataset.region"),
                                            ("crashing", "failed: RuntimeError: boom in the factory")])
@pytest.mark.slow
def test_factory_errors_name_the_plugin_in_one_line(plugin_dir, tmp_path, dataset, words):
    proc = run_seqkit("--plugin", "faulty_plugin", "run", "--dataset", dataset, "--epochs", "1",
                      "--out", str(tmp_path / "o"), env={"PYTHONPATH": str(plugin_dir)})
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"dataset '{dataset}' (plugin 'faulty_plugin')" in lines[0] and words in lines[0], lines[0]


@pytest.mark.slow
def test_other_plugins_keep_working_beside_a_faulty_one(plugin_dir, names_path, tmp_path):
    proc = run_seqkit("--plugin", "faulty_plugin", "run", "--data", str(names_path), "--epochs", "1",
                      "--hidden-size", "8", "--embedding-dim", "4", "--batch-size", "256", "--quiet", "--json",
                      "--out", str(tmp_path / "o"), env={"PYTHONPATH": str(plugin_dir)})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["top1"] > 0


@pytest.mark.slow
def test_modules_on_the_path_are_not_plugins_unless_named(plugin_dir):
    env = {"PYTHONPATH": str(plugin_dir)}
    listed = json.loads(run_seqkit("plugins", "--json", env=env).stdout)
    assert "refusing" not in {e["name"] for e in listed["registries"]["datasets"]}
    named = json.loads(run_seqkit("--plugin", "faulty_plugin", "plugins", "--json", env=env).stdout)
    assert "refusing" in {e["name"] for e in named["registries"]["datasets"]}


class _Payload:
    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED",))


@pytest.mark.slow
def test_a_pickled_checkpoint_does_not_run_its_payload(tmp_path):
    evil = tmp_path / "checkpoint.pt"
    evil.write_bytes(pickle.dumps({"format": "seqkit-checkpoint", "model": _Payload()}))
    proc = run_seqkit("predict", "--checkpoint", str(evil), "Smith", cwd=str(tmp_path))
    assert proc.returncode == 2 and "not a loadable seqkit checkpoint" in proc.stderr, proc.stderr
    assert not (tmp_path / "PWNED").exists(), "weights_only=True must refuse the pickled call"
