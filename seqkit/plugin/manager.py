"""Plugin discovery: entry points found, imported once, their hooks called in a fixed order.

Plugins are found through the ``seqkit`` entry-point group (the built-ins too) and
imported lazily, once, the first time any registry is used. Load order is deterministic:
the built-in plugins (distribution ``seqkit``) first, then third-party plugins, each group
sorted by entry-point name. A plugin that fails to import or raises in a hook is recorded
in :meth:`PluginManager.failures` and skipped; ``SEQKIT_STRICT_PLUGINS=1`` makes that fatal.

Environment (see :mod:`seqkit.environment`):
- ``SEQKIT_STRICT_PLUGINS=1``: any plugin failure raises :class:`PluginError`.
- ``SEQKIT_DISABLE_PLUGIN_AUTOLOAD=1``: load only the built-in plugins.
- ``SEQKIT_LOAD_PLUGINS=a,b``: load only these third-party plugins (by entry-point or
  distribution name); the built-ins always load.
"""
from __future__ import annotations

import importlib
import importlib.metadata as md
import os
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import pluggy

from .. import environment
from ..errors import PluginError, RegistryError
from . import hookspecs

ENTRY_POINT_GROUP = "seqkit"
BUILTIN_DISTRIBUTION = "seqkit"


@dataclass(frozen=True)
class PluginInfo:
    """A loaded plugin: its name, module, distribution and version."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    builtin: bool = False


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be used, and why (``stage``: import, a hook, ...)."""

    plugin: str
    stage: str
    error: str
    distribution: str | None = None
    version: str | None = None
    traceback: str = field(default="", repr=False, compare=False)

    def __str__(self) -> str:
        dist = f" ({self.distribution} {self.version})" if self.distribution else ""
        return f"plugin '{self.plugin}'{dist} failed in {self.stage}: {self.error}"


def describe(exc: BaseException) -> str:
    """``Type: first line of the message``."""
    msg = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {msg[0]}" if msg else type(exc).__name__


class PluginManager:
    """Finds, imports and tracks plugins; owns the pluggy manager."""

    def __init__(self, group: str = ENTRY_POINT_GROUP):
        self.group = group
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self._plugins: dict[str, PluginInfo] = {}
        self._order: list[str] = []
        self._failures: list[PluginFailure] = []
        self._loaded = False
        self._lock = threading.RLock()
        #: the registries this manager fills (each registry adds itself)
        self.registries: list = []
        self._run_options: list[tuple[str, Any]] | None = None

    # -- discovery -------------------------------------------------------------------
    def _entry_points(self) -> list[md.EntryPoint]:
        eps = list(md.entry_points(group=self.group))
        builtin = [ep for ep in eps if self._dist_name(ep) == BUILTIN_DISTRIBUTION]
        third = [ep for ep in eps if self._dist_name(ep) != BUILTIN_DISTRIBUTION]
        if environment.flag("SEQKIT_DISABLE_PLUGIN_AUTOLOAD"):
            third = []
        wanted = os.environ.get("SEQKIT_LOAD_PLUGINS")
        if wanted is not None and wanted.strip():
            names = {w.strip() for w in wanted.split(",") if w.strip()}
            found = {ep.name for ep in third} | {self._dist_name(ep) for ep in third}
            for missing in sorted(names - found):
                self._fail(PluginFailure(missing, "SEQKIT_LOAD_PLUGINS",
                                         "no installed plugin has this entry-point or distribution name"))
            third = [ep for ep in third if ep.name in names or self._dist_name(ep) in names]
        key = lambda ep: (ep.name, self._dist_name(ep) or "")  # noqa: E731
        return sorted(builtin, key=key) + sorted(third, key=key)

    @staticmethod
    def _dist_name(ep: md.EntryPoint) -> str | None:
        dist = getattr(ep, "dist", None)
        return dist.metadata["Name"] if dist is not None else None

    @staticmethod
    def _dist_version(ep: md.EntryPoint) -> str | None:
        dist = getattr(ep, "dist", None)
        return dist.version if dist is not None else None

    def load(self) -> None:
        """Import every plugin once (idempotent, thread-safe)."""
        with self._lock:
            if self._loaded:
                return
            self._loaded = True
            for ep in self._entry_points():
                dist, version = self._dist_name(ep), self._dist_version(ep)
                if ep.name in self._plugins:
                    other = self._plugins[ep.name]
                    self._fail(PluginFailure(
                        ep.name, "import",
                        f"entry-point name '{ep.name}' is already used by {other.distribution}; "
                        f"rename one of them", dist, version))
                    continue
                try:
                    obj = ep.load()
                except Exception as exc:  # a broken plugin must not take down the others
                    self._fail(PluginFailure(ep.name, "import", describe(exc), dist, version,
                                             traceback.format_exc()))
                    continue
                self._add(obj, ep.name, dist, version, builtin=dist == BUILTIN_DISTRIBUTION)

    def _add(self, obj: Any, name: str, dist: str | None, version: str | None, builtin: bool) -> PluginInfo:
        try:
            self.pm.register(obj, name=name)
        except Exception as exc:  # pluggy validates hook names and signatures here
            self._fail(PluginFailure(name, "registration", describe(exc), dist, version,
                                     traceback.format_exc()))
            raise
        module = getattr(obj, "__name__", type(obj).__name__)
        info = PluginInfo(name, module, dist, version, builtin)
        self._plugins[name] = info
        self._order.append(name)
        return info

    def register_plugin(self, obj: Any, name: str | None = None) -> PluginInfo:
        """Register a plugin object or module from Python code (or ``--plugin MODULE``).

        Registries that were already filled call the new plugin's hooks at once.
        """
        self.load()
        with self._lock:
            name = name or getattr(obj, "__name__", None) or type(obj).__name__
            if name in self._plugins:
                raise RegistryError(f"a plugin named '{name}' is already registered; pass another name")
            try:
                info = self._add(obj, name, None, None, builtin=False)
            except Exception as exc:
                raise PluginError(f"plugin '{name}' could not be registered: {describe(exc)}") from exc
            for reg in self.registries:
                if reg._filled:
                    reg._call_hook(name)
            self._run_options = None  # collected again, with the new plugin's
            return info

    def import_plugin(self, module: str) -> PluginInfo:
        """Import ``module`` and register it as a plugin (the CLI's ``--plugin MODULE``).

        The plugin was asked for by name, so what would only be recorded for an installed
        plugin is an error here: its hooks run at once, and a failure (a name another plugin
        owns, a hook that raises) is a :class:`PluginError` naming both owners."""
        try:
            obj = importlib.import_module(module)
        except Exception as exc:
            raise PluginError(f"plugin module '{module}' could not be imported: {describe(exc)}; "
                              f"check that it is installed and importable") from exc
        info = self.register_plugin(obj, name=module)
        for reg in self.registries:
            reg._ensure()
        mine = [f for f in self._failures if f.plugin == module]
        if mine:
            raise PluginError(f"--plugin {module}: {mine[0].stage} failed: {mine[0].error}")
        return info

    # -- failures --------------------------------------------------------------------
    def _fail(self, failure: PluginFailure) -> None:
        self._failures.append(failure)
        if environment.flag("SEQKIT_STRICT_PLUGINS"):
            raise PluginError(f"{failure} (SEQKIT_STRICT_PLUGINS=1 makes this fatal)")

    def failures(self) -> list[PluginFailure]:
        self.load()
        return list(self._failures)

    def plugins(self) -> list[PluginInfo]:
        self.load()
        return [self._plugins[n] for n in self._order]

    def info(self, name: str) -> PluginInfo | None:
        return self._plugins.get(name)

    def add_commands(self, cli: Any) -> dict[str, str]:
        """Call every plugin's ``seqkit_register_commands(cli)``; returns command -> plugin."""
        self.load()
        added: dict[str, str] = {}
        for plugin, impl in self.ordered_impls("seqkit_register_commands"):
            before = dict(cli.commands)
            try:
                impl(cli=cli)
            except Exception as exc:
                cli.commands.clear()
                cli.commands.update(before)
                self._fail_hook(plugin, "seqkit_register_commands", describe(exc), traceback.format_exc())
                continue
            clobbered = sorted(n for n in before if cli.commands.get(n) is not before[n])
            if clobbered:
                cli.commands.clear()
                cli.commands.update(before)
                self._fail_hook(plugin, "seqkit_register_commands", f"tried to replace the existing command(s) "
                                f"{', '.join(clobbered)}; choose another command name")
                continue
            for name in cli.commands:
                if name not in before:
                    added[name] = plugin
        return added

    def run_options(self, reserved: Iterable[str] = ()) -> list[tuple[str, Any]]:
        """``(plugin, Option)`` for every option declared through ``seqkit_add_run_options``,
        in plugin load order. An option whose flag is in ``reserved`` (the core options') or
        was declared by an earlier plugin is a plugin failure and left out."""
        self.load()
        with self._lock:
            if self._run_options is None:
                taken = {flag: "seqkit" for flag in reserved}
                found: list[tuple[str, Any]] = []
                for plugin, impl in self.ordered_impls("seqkit_add_run_options"):
                    declared: list[Any] = []
                    try:
                        impl(add=declared.append)
                    except Exception as exc:
                        self._fail_hook(plugin, "seqkit_add_run_options", describe(exc), traceback.format_exc())
                        continue
                    for opt in declared:
                        clash = next((f for f in opt.flags if f in taken), None)
                        if clash is not None:
                            self._fail_hook(plugin, "seqkit_add_run_options",
                                            f"option {clash} is already declared by {taken[clash]}; choose "
                                            f"another name")
                            continue
                        taken.update({f: f"plugin '{plugin}'" for f in opt.flags})
                        found.append((plugin, opt))
                self._run_options = found
            return list(self._run_options)

    def _fail_hook(self, plugin: str, hook: str, error: str, tb: str = "") -> None:
        info = self._plugins.get(plugin)
        self._fail(PluginFailure(plugin, f"hook {hook}", error, info.distribution if info else None,
                                 info.version if info else None, tb))

    def ordered_impls(self, hook_name: str) -> list[tuple[str, Callable]]:
        """The implementations of a hook, in plugin load order."""
        impls = {impl.plugin_name: impl.function for impl in getattr(self.pm.hook, hook_name).get_hookimpls()}
        return [(name, impls[name]) for name in self._order if name in impls]
