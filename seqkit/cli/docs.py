"""docs/cli.md, generated from the click app: ``python -m seqkit.cli.docs > docs/cli.md``.

Only seqkit's built-in plugins are loaded (as with ``SEQKIT_DISABLE_PLUGIN_AUTOLOAD=1``), so
the page is the same on every machine; ``tests/unit/test_docs.py`` fails when the file is
stale.
"""
from __future__ import annotations

import inspect
import os
import sys

import click

HEADER = """# Command-line reference

Generated from the command line itself by `python -m seqkit.cli.docs > docs/cli.md` (a test
fails when this page is stale), with seqkit's built-in plugins only: an installed plugin adds
its names to the choices and may add options (see `seqkit plugins`). Every `seqkit run`
option is declared once, in `seqkit/engine/config.py` or by the plugin that owns it
(`seqkit_add_run_options`); `RunConfig` in Python takes the same names with `_` for `-`.

Bad usage or input prints one line, `seqkit: error: ...`, and exits with status 2.
Shell completion: `eval "$(_SEQKIT_COMPLETE=bash_source seqkit)"` (bash),
`eval "$(_SEQKIT_COMPLETE=zsh_source seqkit)"` (zsh),
`_SEQKIT_COMPLETE=fish_source seqkit | source` (fish).
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _flag(param: click.Parameter, ctx: click.Context) -> str:
    if isinstance(param, click.Argument):
        return f"`{param.make_metavar(ctx)}`"
    if param.secondary_opts:
        return f"`{'/'.join(param.opts + param.secondary_opts)}`"
    first, *others = sorted(param.opts, key=len, reverse=True)
    metavar = "" if param.is_flag else " " + param.make_metavar(ctx)
    return ", ".join([f"`{first}{metavar}`", *(f"`{o}`" for o in others)])


def _default(param: click.Parameter) -> str:
    default = param.default
    if isinstance(param, click.Argument) or param.multiple or not isinstance(default, (bool, int, float, str)) \
            or (param.is_flag and not param.secondary_opts):
        return ""
    if isinstance(default, bool):
        return f"`{param.opts[0] if default else param.secondary_opts[0]}`"
    return f"`{default}`"


def command_section(name: str, command: click.Command, parent: click.Context) -> str:
    ctx = click.Context(command, info_name=name, parent=parent)
    usage = " ".join(command.collect_usage_pieces(ctx))
    lines = [f"## `seqkit {name}`", "", f"    seqkit {name} {usage}", "", inspect.cleandoc(command.help), "",
             "| option | default | description |", "|---|---|---|"]
    for param in command.get_params(ctx):
        if "--help" in getattr(param, "opts", ()):
            continue
        help_text = getattr(param, "help", None) or ""
        lines.append(f"| {_cell(_flag(param, ctx))} | {_cell(_default(param))} | {_cell(help_text)} |")
    return "\n".join(lines) + "\n"


def render() -> str:
    """The page: the group's options, then every built-in command."""
    from .app import build_cli

    before = os.environ.get("SEQKIT_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["SEQKIT_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        cli = build_cli()
    finally:  # the caller's own setting back (tests render in-process)
        if before is None:
            del os.environ["SEQKIT_DISABLE_PLUGIN_AUTOLOAD"]
        else:
            os.environ["SEQKIT_DISABLE_PLUGIN_AUTOLOAD"] = before
    root = click.Context(cli, info_name="seqkit")
    parts = [HEADER, command_section("run", cli.commands["run"], root)]
    parts += [command_section(name, cli.commands[name], root)
              for name in ("predict", "eval", "export", "plugins", "bench")]
    return "\n".join(parts)


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(render())
