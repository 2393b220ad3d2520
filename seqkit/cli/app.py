"""The ``seqkit`` command group and the console-script entry point.

:func:`build_cli` builds a fresh group (tests build their own): ``run``, ``predict``,
``eval``, ``export``, ``plugins``, ``bench`` and the commands plugins add
(``seqkit_register_commands``).
The choices of ``--cell``, ``--dataset``, ``--encoder``, ``--collator`` and ``--task``
come from the registries, so a plugin's names appear in ``--help`` and in shell completion
(``eval "$(_SEQKIT_COMPLETE=bash_source seqkit)"``). Bad usage or input prints one line
and exits with status 2.
"""
from __future__ import annotations

import sys

import click

from .. import __version__, environment
from ..errors import SeqkitError
from ..plugin import registry
from .bench import bench_command
from .export import export_command
from .inference import eval_command, predict_command
from .params import EXIT_BAD_INPUT
from .plugins import plugins_command
from .run import run_command, set_argv


def _load_plugins(ctx, param, values):
    from .params import CLIError

    for module in values or ():
        try:
            registry.import_plugin(module)
        except SeqkitError as exc:
            raise CLIError(str(exc)) from None
    return values


def build_cli() -> click.Group:
    """A fresh ``seqkit`` command group."""

    @click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
    @click.version_option(__version__, prog_name="seqkit")
    @click.option("--plugin", "plugins_", multiple=True, metavar="MODULE", is_eager=True, expose_value=False,
                  callback=_load_plugins, help="Import MODULE as a plugin (repeatable), besides installed ones.")
    def cli():
        """seqkit: batched sequence models in PyTorch.

        Train a surname -> language classifier with `seqkit run`; list what plugins
        provide with `seqkit plugins`.
        """

    for command in (run_command(), plugins_command, predict_command(), eval_command(), export_command,
                    bench_command):
        cli.add_command(command)
    cli.plugin_commands = registry.manager.add_commands(cli)  # command name -> plugin
    return cli


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``seqkit`` console script."""
    try:
        cli = build_cli()
        if environment.flag("SEQKIT_STRICT_PLUGINS"):
            registry.failures()  # load every plugin now: a failure is fatal, reported in one line
    except SeqkitError as exc:  # e.g. SEQKIT_STRICT_PLUGINS=1 and a broken plugin
        click.echo(f"seqkit: error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    set_argv(argv)
    try:
        rv = cli.main(args=argv, prog_name="seqkit", standalone_mode=False)
    except click.UsageError as exc:  # bad usage: one line, status 2 (click would print three)
        where = f"seqkit {exc.ctx.info_name}" if exc.ctx is not None and exc.ctx.parent is not None else "seqkit"
        click.echo(f"seqkit: error: {exc.format_message()} (see `{where} --help`)", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("Aborted!", err=True)
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)
