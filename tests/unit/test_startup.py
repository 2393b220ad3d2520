"""The command line answers without loading torch: ``seqkit --help``, ``seqkit run --help``
and ``seqkit --version`` import neither torch nor numpy (plugins register ``module:attribute``
targets; the registries import a factory on first use). How fast that is, is measured by
benchmarks/bench_startup.py, not here."""
from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = ("import sys, seqkit.cli\ntry:\n    seqkit.cli.main(sys.argv[1:])\nexcept SystemExit as exc:\n"
         "    code = exc.code\nprint('LOADED', sorted(m for m in ('torch', 'numpy', 'sklearn', 'matplotlib') "
         "if m in sys.modules), file=sys.stderr)")


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["--version"], ["predict", "--help"],
                                  ["eval", "--help"], ["run", "--cell", "nope", "--epochs", "1"]])
def test_the_cli_answers_without_importing_torch(args):
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60)
    last = proc.stderr.strip().splitlines()[-1]
    assert last == "LOADED []", proc.stderr
    if args == ["run", "--cell", "nope", "--epochs", "1"]:  # a usage error is still one line
        assert "unknown cell 'nope'" in proc.stderr and "Traceback" not in proc.stderr


def test_registering_does_not_import_the_built_in_plugins_implementations():
    code = ("import sys\nfrom seqkit import registry\n"
            "names = [n for r in registry.all_registries().values() for n in r.names()]\n"
            "helps = [r.help(n) for r in registry.all_registries().values() for n in r]\n"
            "print(len(names), 'torch' in sys.modules, 'numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout.split()
    assert int(out[0]) >= 14 and out[1:] == ["False", "False"]


@pytest.mark.parametrize("shell, env, expect", [
    ("bash", {"COMP_WORDS": "seqkit run --cell fused", "COMP_CWORD": "3"}, "fused-gru"),
    ("zsh", {"COMP_WORDS": "seqkit run --dataset c", "COMP_CWORD": "3"}, "cmudict"),
    ("fish", {"COMP_WORDS": "seqkit run --task s", "COMP_CWORD": "3"}, "seq2seq"),
])
def test_shell_completion_offers_registered_names_in_the_three_shells(shell, env, expect):
    """``_SEQKIT_COMPLETE={shell}_complete``: what ``eval "$(_SEQKIT_COMPLETE={shell}_source seqkit)"``
    installs calls; the choices come from the registries, without loading torch."""
    import os

    full = dict(os.environ, _SEQKIT_COMPLETE=f"{shell}_complete", **env)
    if shell == "fish":
        full["COMP_WORDS"], full["COMP_CWORD"] = env["COMP_WORDS"], env["COMP_WORDS"].split()[-1]
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=full, timeout=60)
    assert proc.returncode == 0 or expect in proc.stdout, proc.stderr
    assert expect in proc.stdout
    assert proc.stderr.strip().splitlines()[-1] == "LOADED []"
    source = subprocess.run([sys.executable, "-m", "seqkit"], capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, _SEQKIT_COMPLETE=f"{shell}_source"))
    assert "_SEQKIT_COMPLETE" in source.stdout  # the script a user evals in their shell's rc file
