"""Docs stay true: every hook documented and tested, the CLI reference matches the CLI."""
from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from seqkit.plugin import hookspecs

ROOT = Path(__file__).resolve().parents[2]
HOOKS = sorted(n for n in dir(hookspecs) if n.startswith("seqkit_"))


def test_hooks_exist():
    assert {"seqkit_register_datasets", "seqkit_register_encoders", "seqkit_register_collators",
            "seqkit_register_cells", "seqkit_register_tasks"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook):
    doc = (ROOT / "docs" / "plugins.md").read_text("utf-8")
    assert f"### `{hook}(" in doc, f"docs/plugins.md has no section for {hook}"
    assert getattr(hookspecs, hook).__doc__.strip(), f"{hook} has no docstring"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_tested(hook):
    """A hook counts as tested when a test module other than this one implements or calls it,
    or the test plugin package implements it."""
    sources = [p for p in (ROOT / "tests").rglob("*.py") if p.name != "test_docs.py"]
    assert any(hook in p.read_text("utf-8") for p in sources), f"no test exercises {hook}"


def test_quickstart_has_exactly_two_bash_blocks():
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    assert len(blocks) == 2
    assert "seqkit run" in blocks[0] and "pip install" in blocks[0]
    assert "pytest" in blocks[1]


def test_cli_reference_is_generated_from_the_cli():
    from seqkit.cli.docs import render

    assert (ROOT / "docs" / "cli.md").read_text("utf-8") == render(), \
        "docs/cli.md is stale: regenerate it with python -m seqkit.cli.docs > docs/cli.md"


def test_cli_reference_lists_every_run_option_with_its_default():
    from seqkit.cli import build_cli

    readme = (ROOT / "docs" / "cli.md").read_text("utf-8").split("## `seqkit run`", 1)[1].split("\n## ", 1)[0]
    run = build_cli().commands["run"]
    for param in run.params:
        if not isinstance(param, click.Option) or param.name == "help":
            continue
        flag = max(param.opts, key=len)
        assert f"`{flag}" in readme, f"README's CLI reference lacks {flag}"
        row = next(line for line in readme.splitlines()  # a row of the CLI table: options in column 1
                   if line.startswith("| `-") and re.search(rf"`{re.escape(flag)}[`/ ]", line.split("|")[1]))
        if isinstance(param.default, (int, float)) and not isinstance(param.default, bool):
            assert f"`{param.default}`" in row, f"README shows a stale default for {flag}: {row}"


@pytest.mark.parametrize("module", ["seqkit", "seqkit.data", "seqkit.engine", "seqkit.nn", "seqkit.ops",
                                    "seqkit.testing", "seqkit.errors"])
def test_public_names_have_docstrings_and_type_hints(module):
    """help(seqkit) is a usable map: every public class and function says what it is, and
    every public function's arguments and result are typed."""
    import importlib
    import inspect

    mod = importlib.import_module(module)
    assert (mod.__doc__ or "").strip()
    for name in mod.__all__:
        obj = getattr(mod, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        assert (obj.__doc__ or "").strip(), f"{module}.{name} has no docstring"
        if inspect.isfunction(obj):
            sig = inspect.signature(obj)
            untyped = [p.name for p in sig.parameters.values()
                       if p.annotation is inspect.Parameter.empty and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
            assert not untyped and sig.return_annotation is not inspect.Signature.empty, \
                f"{module}.{name}: untyped {untyped or 'result'}"
