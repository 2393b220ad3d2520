"""Plugins found through the entry points of a really installed package (tests/plugin_pkg)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import run_seqkit

pytestmark = [pytest.mark.install, pytest.mark.slow]  # pip installs the test plugin


def test_plugins_command_lists_third_party_names_versions_and_failures(plugin_env):
    proc = run_seqkit("plugins", "--json", env=plugin_env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    cells = {e["name"]: e for e in data["registries"]["cells"]}
    assert cells["tiny-rnn"]["plugin"] == "testplugin" and cells["tiny-rnn"]["version"] == "0.3.1"
    assert cells["gru"]["plugin"] == "seqkit.cells"  # the duplicate did not take over
    encoders = {e["name"]: e for e in data["registries"]["encoders"]}
    assert encoders["lower"]["plugin"] == "testplugin"
    failures = {f["plugin"]: f for f in data["failures"] if f["stage"] != "hook seqkit_register_commands"}
    assert set(failures) == {"broken", "badhook", "dupe"}
    (clobber,) = [f for f in data["failures"] if f["stage"] == "hook seqkit_register_commands"]
    assert clobber["plugin"] == "dupe" and "replace the existing command(s) run" in clobber["error"]
    assert failures["broken"]["stage"] == "import" and "not installed" in failures["broken"]["error"]
    assert failures["broken"]["distribution"] == "seqkit-testplugin"
    assert failures["badhook"]["stage"] == "hook seqkit_register_datasets"
    assert "seqkit.cells" in failures["dupe"]["error"] and "dupe" in failures["dupe"]["error"]
    assert {"name": "hello", "plugin": "testplugin"} in data["commands"]
    order = [p["name"] for p in data["plugins"]]
    n_builtin = sum(p["builtin"] for p in data["plugins"])
    assert order[:n_builtin] == sorted(order[:n_builtin]) and all(n.startswith("seqkit.") for n in order[:n_builtin])
    assert order[n_builtin:] == sorted(order[n_builtin:]) == ["badhook", "dupe", "testplugin"]

    text = run_seqkit("plugins", env=plugin_env)
    assert text.returncode == 0
    assert "tiny-rnn" in text.stdout and "failed plugins:" in text.stdout and "broken (import)" in text.stdout


def test_help_survives_broken_plugins_and_lists_plugin_choices(plugin_env):
    proc = run_seqkit("run", "--help", env=plugin_env)
    assert proc.returncode == 0, proc.stderr
    assert "tiny-rnn" in proc.stdout and "gru" in proc.stdout


def test_strict_mode_fails_in_one_line_naming_the_plugin(plugin_env):
    proc = run_seqkit("plugins", env={**plugin_env, "SEQKIT_STRICT_PLUGINS": "1"})
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "plugin 'broken'" in lines[0] and "SEQKIT_STRICT_PLUGINS" in lines[0]


def test_disable_autoload_and_load_only_named(plugin_env):
    off = json.loads(run_seqkit("plugins", "--json", env={**plugin_env, "SEQKIT_DISABLE_PLUGIN_AUTOLOAD": "1"}).stdout)
    assert "tiny-rnn" not in {e["name"] for e in off["registries"]["cells"]} and not off["failures"]
    only = json.loads(run_seqkit("plugins", "--json", env={**plugin_env, "SEQKIT_LOAD_PLUGINS": "testplugin"}).stdout)
    assert "tiny-rnn" in {e["name"] for e in only["registries"]["cells"]}
    assert not only["failures"]


def test_python_api_sees_the_plugin(plugin_env):
    code = ("from seqkit import registry; import json; "
            "c = registry.cells.create('tiny-rnn', input_size=3, hidden_size=4); "
            "print(json.dumps([registry.cells.plugin('tiny-rnn'), type(c).__name__, "
            "sorted(set(f.plugin for f in registry.failures()))]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**__import__('os').environ, **plugin_env})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == ["testplugin", "TinyRNN", ["badhook", "broken", "dupe"]]


def test_run_trains_with_the_third_party_cell(plugin_env, names_path, tmp_path):
    proc = run_seqkit("run", "--data", str(names_path), "--cell", "tiny-rnn", "--unidirectional", "--encoder", "lower",
                      "--hidden-size", "16", "--epochs", "1", "--batch-size", "256", "--out", str(tmp_path / "r"),
                      "--quiet", "--json", env=plugin_env)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(proc.stdout)
    assert metrics["config"]["cell"] == "tiny-rnn" and metrics["config"]["encoder"] == "lower"
    assert metrics["top1"] > metrics["baseline_top1"] - 0.05  # it trained on real data without crashing


def test_plugin_command_runs_and_cannot_replace_builtins(plugin_env):
    proc = run_seqkit("hello", "seqkit", env=plugin_env)
    assert proc.returncode == 0 and proc.stdout.strip() == "hello, seqkit"
    help_ = run_seqkit("run", "--help", env=plugin_env)
    assert "Train and evaluate" in help_.stdout  # the built-in run survived dupe's attempt
