"""``seqkit plugins``: every registered name with its plugin and version, the options and
commands plugins add, the ops backend, and the plugins that failed to load."""
from __future__ import annotations

import json

import click

from ..errors import SeqkitError
from ..plugin import registry
from .params import CLIError


def _ops_backend() -> str | None:
    try:
        from .. import ops
    except ImportError:
        return None
    try:
        return ops.backend()
    except Exception as exc:  # reporting must not fail
        return f"unavailable ({exc})"


def collect(commands: dict[str, str]) -> dict:
    """What ``seqkit plugins --json`` prints."""
    from ..engine.config import plugin_options

    data = {"plugins": [vars(p) for p in registry.plugins()], "registries": {}, "failures": []}
    infos = {p["name"]: p for p in data["plugins"]}
    for plural, reg in registry.all_registries().items():
        data["registries"][plural] = [
            {"name": e.name, "plugin": e.plugin, "version": (infos.get(e.plugin) or {}).get("version"),
             "help": e.help, "capabilities": sorted(e.capabilities)} for e in reg.items()]
    data["options"] = [{"flag": opt.display, "plugin": plugin, "component": component, "owner": opt.owner}
                       for component, plugin, opt in plugin_options()]
    data["failures"] = [{"plugin": f.plugin, "stage": f.stage, "error": f.error, "distribution": f.distribution,
                         "version": f.version} for f in registry.failures()]
    data["commands"] = [{"name": n, "plugin": p} for n, p in sorted(commands.items())]
    data["ops_backend"] = _ops_backend()
    return data


def _print(data: dict) -> None:
    for plural, entries in data["registries"].items():
        click.echo(f"{plural}:")
        for e in entries:
            ver = f" {e['version']}" if e["version"] else ""
            click.echo(f"  {e['name']:<14} {e['plugin'] + ver:<24} {e['help']}")
    click.echo("plugins: " + ", ".join(f"{p['name']} ({p['distribution'] or 'local'} {p['version'] or ''})".
                                        replace(" )", ")") for p in data["plugins"]))
    if data["options"]:
        click.echo("run options: " + ", ".join(f"{o['flag']} ({o['plugin']})" for o in data["options"]))
    if data["commands"]:
        click.echo("commands: " + ", ".join(f"{c['name']} ({c['plugin']})" for c in data["commands"]))
    if data["ops_backend"]:
        click.echo(f"ops backend: {data['ops_backend']}")
    if data["failures"]:
        click.echo("failed plugins:")
        for f in data["failures"]:
            click.echo(f"  {f['plugin']} ({f['stage']}): {f['error']}")


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins_command(as_json):
    """List registered names, the plugin that provides each, and plugin failures."""
    commands = getattr(click.get_current_context().find_root().command, "plugin_commands", {})
    try:
        data = collect(commands)
    except SeqkitError as exc:
        raise CLIError(str(exc)) from None
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        _print(data)
