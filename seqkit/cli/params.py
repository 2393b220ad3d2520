"""click parameters made from seqkit's declarations: registry names, run options, errors.

Every ``seqkit run`` option is generated here from its one declaration
(:class:`seqkit.options.Option`: a :class:`~seqkit.engine.config.RunConfig` field, or a
plugin's ``seqkit_add_run_options``); nothing about an option is written twice. Ranges are
checked by :meth:`RunConfig.validate` after parsing, so that every bad value gets the same
one-line error wherever it comes from (flag, ``-o``, Python).
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

import click

from ..errors import SeqkitError
from ..options import Option
from ..plugin import registry

EXIT_BAD_INPUT = 2


class CLIError(click.ClickException):
    """A one-line error with exit status 2."""

    exit_code = EXIT_BAD_INPUT

    def show(self, file=None) -> None:
        click.echo(f"seqkit: error: {self.format_message()}", file=file or sys.stderr)


@contextmanager
def one_line_errors(path: str | None = None, fix: str = "") -> Iterator[None]:
    """A SeqkitError inside becomes a :class:`CLIError` (its one line, exit 2); with ``path``,
    an OSError too, naming the file (or ``path``), the system's reason and ``fix``."""
    try:
        yield
    except SeqkitError as exc:
        raise CLIError(str(exc)) from None
    except OSError as exc:
        if path is None:
            raise
        raise CLIError(f"{exc.filename or path}: {exc.strerror}; {fix}") from None


class RegistryChoice(click.ParamType):
    """A name from a registry (or one of ``extra``, e.g. ``auto``): listed in help and
    completion, suggestion on a typo."""

    def __init__(self, reg: registry.Registry, extra: tuple[str, ...] = ()):
        self.reg, self.extra = reg, tuple(extra)
        self.name = reg.kind

    def _names(self) -> list[str]:
        try:
            return [*self.extra, *self.reg.names()]
        except SeqkitError:
            return list(self.extra)

    def get_metavar(self, *args, **kwargs) -> str:
        return "[" + "|".join(self._names()) + "]"

    def convert(self, value, param, ctx):
        if value in self.extra:
            return value
        try:
            self.reg.entry(value)
        except SeqkitError as exc:
            self.fail(str(exc), param, ctx)
        return value

    def shell_complete(self, ctx, param, incomplete):
        from click.shell_completion import CompletionItem

        return [CompletionItem(n, help=None if n in self.extra else self.reg.help(n)) for n in self._names()
                if n.startswith(incomplete)]


def _param_type(opt: Option) -> click.ParamType:
    if opt.registry is not None:
        return RegistryChoice(registry.by_kind(opt.registry), opt.extra_names)
    if opt.choices is not None:
        return click.Choice(opt.choices)
    return {int: click.INT, float: click.FLOAT, bool: click.BOOL}.get(opt.type, click.STRING)


def click_option(opt: Option, **override) -> click.Option:
    """The click option of ``opt`` (``override``: e.g. another default for another command)."""
    default = override.pop("default", opt.default)
    flags = opt.flags
    kwargs = dict(help=opt.help or None, show_default=opt.show_default and default is not None, default=default,
                  metavar=opt.metavar)
    kwargs.update(override)
    if opt.type is bool and len(flags) == 1:
        return click.Option([flags[0], opt.name], is_flag=True, **kwargs)
    decl = "/".join(flags)
    return click.Option([decl, opt.name], type=None if opt.type is bool else _param_type(opt), **kwargs)


def explicit(ctx: click.Context, names) -> set[str]:
    """The parameters of ``names`` the user gave (not left at their default)."""
    from click.core import ParameterSource

    return {n for n in names if ctx.get_parameter_source(n) not in (None, ParameterSource.DEFAULT)}
