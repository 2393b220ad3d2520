"""``seqkit run``: train and evaluate a model, write the run directory.

Its options are generated from :class:`~seqkit.engine.config.RunConfig`'s declarations
and the plugins' (``seqkit_add_run_options``), followed by ``--nproc``, ``-o`` and ``--json``.
"""
from __future__ import annotations

import json
import os
import sys

import click

from ..errors import ConfigError
from ..options import parse_component_options
from .params import CLIError, click_option, explicit, one_line_errors

_ARGV: list[str] | None = None


def set_argv(argv: list[str] | None) -> None:
    """Remember the arguments of this invocation (``main(argv)``) for ``--nproc``'s launcher."""
    global _ARGV
    _ARGV = list(argv) if argv is not None else None


def _run_args() -> list[str]:
    """The arguments of this ``seqkit run`` call, without ``--nproc`` (for the launcher)."""
    argv = list(_ARGV if _ARGV is not None else sys.argv[1:])
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--nproc":
            skip = True
            continue
        if arg.startswith("--nproc="):
            continue
        out.append(arg)
    return out


def run_command() -> click.Command:
    """A fresh ``run`` command with every declared option."""
    from ..engine.config import RunConfig, plugin_options

    core = [opt for opt in RunConfig.options() if opt.cli]
    plugin = [opt for _, _, opt in plugin_options()]
    params = [click_option(opt) for opt in core]
    params.append(click.Option(["--nproc"], type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
                               help="Data-parallel training in N processes on this machine (started as torchrun "
                                    "would; --batch-size is per process)."))
    params += [click_option(opt) for opt in plugin]
    params.append(click.Option(["-o", "--option", "options"], multiple=True, metavar="COMPONENT.KEY=VALUE",
                               help="Extra option for a component's factory, e.g. -o cell.nonlinearity=relu or "
                                    "-o task.beam=5."))
    params.append(click.Option(["--json", "as_json"], is_flag=True, help="Print the final metrics as JSON on stdout."))

    def callback(options, as_json, nproc, **values):
        _run(core, plugin, options, as_json, nproc, values)

    return click.Command("run", callback=callback, params=params,
                         help="Train and evaluate a model; write the run directory.\n\n"
                              "The defaults --cell auto --collator auto take seqkit's compiled path, fused-gru and "
                              "fused-pack, on the CPU where its C++ ops load, else torch's gru and pack (one warning "
                              "says so); --cell gru --collator pack is the torch reference.")


def _config(core, plugin, options, values):
    """The RunConfig of this invocation and the names of the options the user gave."""
    from ..engine.config import RunConfig

    ctx = click.get_current_context()
    try:
        extra = parse_component_options(options)
    except ConfigError as exc:
        raise CLIError(str(exc)) from None
    for opt in plugin:  # a plugin's option goes to its component's factory when given
        if opt.name in explicit(ctx, [opt.name]):
            extra.setdefault(opt.component, {})[opt.name] = values[opt.name]
    kwargs = {opt.name: values[opt.name] for opt in core}
    for opt in core:
        if opt.zero_is_off and kwargs[opt.name] == 0:
            kwargs[opt.name] = None
    config = RunConfig(**kwargs, **{f"{c}_options": v for c, v in extra.items()})
    return config, explicit(ctx, [opt.name for opt in core])


def _warn(message: str) -> None:
    click.echo(f"seqkit: warning: {message}", err=True)


def _run(core, plugin, options, as_json, nproc, values) -> None:
    from ..engine.config import apply_task_defaults, make_task, typed_component_options

    config, given = _config(core, plugin, options, values)
    if nproc > 1 and os.environ.get("WORLD_SIZE") is None:
        with one_line_errors():
            config.validate()
        from ..engine.launch import launch_torchrun

        sys.exit(launch_torchrun(nproc, _run_args()))
    from ..engine.auto import resolve_auto
    from ..engine.trainer import train

    # -o values in the types the components take, before and after the task's defaults and auto
    with one_line_errors(config.out, "choose another --out"):
        config.check_owners()
        config = apply_task_defaults(typed_component_options(config), given)
        config = typed_component_options(resolve_auto(config, warn=_warn))
        metrics = train(config)
    if as_json:
        click.echo(json.dumps(metrics))
    elif not config.quiet:
        keys = make_task(config).summary_keys
        headline = {k: metrics[k] for k in keys if isinstance(metrics.get(k), (int, float))}
        click.echo("  ".join(f"{k} {v:.4f}" for k, v in headline.items())
                   + f"  train {metrics['train_seconds']:.1f}s  {metrics['names_per_second']:,.0f} names/s"
                   + f"  -> {config.out}")
