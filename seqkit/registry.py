"""Registries of datasets, encoders, collators, cells and tasks, filled by plugins.

Usage::

    from seqkit import registry
    registry.cells.names()                  # ['gru', 'lstm', 'rnn', ...]
    gru = registry.cells.create("gru", input_size=57, hidden_size=128)
    registry.cells.plugin("gru")            # 'seqkit.cells'
    "gru" in registry.cells                 # True

Plugins are found through the ``seqkit`` entry-point group (the built-ins too) and
imported lazily, once, the first time any registry is used; each registry calls its
hook the first time it is used. Load order is deterministic: the built-in plugins
(distribution ``seqkit``) first, then third-party plugins, each group sorted by
entry-point name. A plugin that fails to import or raises in a hook is recorded in
:func:`failures` and skipped; ``SEQKIT_STRICT_PLUGINS=1`` makes that fatal.

Environment:
- ``SEQKIT_STRICT_PLUGINS=1``: any plugin failure raises :class:`PluginError`.
- ``SEQKIT_DISABLE_PLUGIN_AUTOLOAD=1``: load only the built-in plugins.
- ``SEQKIT_LOAD_PLUGINS=a,b``: load only these third-party plugins (by entry-point or
  distribution name); the built-ins always load.
"""
from __future__ import annotations

import difflib
import importlib
import importlib.metadata as md
import os
import re
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import pluggy

from . import hookspecs
from .errors import DuplicateNameError, PluginError, RegistryError, SeqkitError, UnknownNameError

ENTRY_POINT_GROUP = "seqkit"
BUILTIN_DISTRIBUTION = "seqkit"
USER = "<user>"  # the plugin name of entries registered directly from Python code
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


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


@dataclass(frozen=True)
class Entry:
    """One registered name."""

    kind: str
    name: str
    factory: Callable
    help: str
    plugin: str


def _describe(exc: BaseException) -> str:
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

    # -- discovery -------------------------------------------------------------------
    def _entry_points(self) -> list[md.EntryPoint]:
        eps = list(md.entry_points(group=self.group))
        builtin = [ep for ep in eps if self._dist_name(ep) == BUILTIN_DISTRIBUTION]
        third = [ep for ep in eps if self._dist_name(ep) != BUILTIN_DISTRIBUTION]
        if _env_flag("SEQKIT_DISABLE_PLUGIN_AUTOLOAD"):
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
                    self._fail(PluginFailure(ep.name, "import", _describe(exc), dist, version,
                                             traceback.format_exc()))
                    continue
                self._add(obj, ep.name, dist, version, builtin=dist == BUILTIN_DISTRIBUTION)

    def _add(self, obj: Any, name: str, dist: str | None, version: str | None, builtin: bool) -> PluginInfo:
        try:
            self.pm.register(obj, name=name)
        except Exception as exc:  # pluggy validates hook names and signatures here
            self._fail(PluginFailure(name, "registration", _describe(exc), dist, version,
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
                raise PluginError(f"plugin '{name}' could not be registered: {_describe(exc)}") from exc
            for reg in _REGISTRIES.values():
                if reg._manager is self and reg._filled:
                    reg._call_hook(name)
            return info

    def import_plugin(self, module: str) -> PluginInfo:
        """Import ``module`` and register it as a plugin (the CLI's ``--plugin MODULE``)."""
        try:
            obj = importlib.import_module(module)
        except Exception as exc:
            raise PluginError(f"plugin module '{module}' could not be imported: {_describe(exc)}; "
                              f"check that it is installed and importable") from exc
        return self.register_plugin(obj, name=module)

    # -- failures --------------------------------------------------------------------
    def _fail(self, failure: PluginFailure) -> None:
        self._failures.append(failure)
        if _env_flag("SEQKIT_STRICT_PLUGINS"):
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
                info = self._plugins.get(plugin)
                self._fail(PluginFailure(plugin, "hook seqkit_register_commands", _describe(exc),
                                         info.distribution if info else None, info.version if info else None,
                                         traceback.format_exc()))
                continue
            clobbered = sorted(n for n in before if cli.commands.get(n) is not before[n])
            if clobbered:
                cli.commands.clear()
                cli.commands.update(before)
                info = self._plugins.get(plugin)
                self._fail(PluginFailure(plugin, "hook seqkit_register_commands",
                                         f"tried to replace the existing command(s) {', '.join(clobbered)}; "
                                         f"choose another command name",
                                         info.distribution if info else None, info.version if info else None))
                continue
            for name in cli.commands:
                if name not in before:
                    added[name] = plugin
        return added

    def ordered_impls(self, hook_name: str) -> list[tuple[str, Callable]]:
        """The implementations of a hook, in plugin load order."""
        impls = {impl.plugin_name: impl.function for impl in getattr(self.pm.hook, hook_name).get_hookimpls()}
        return [(name, impls[name]) for name in self._order if name in impls]


class Registry:
    """Names -> factories for one kind of component (datasets, cells, ...)."""

    def __init__(self, kind: str, plural: str, hook: str, manager: PluginManager):
        self.kind, self.plural, self.hook = kind, plural, hook
        self._manager = manager
        self._entries: dict[str, Entry] = {}
        self._filled = False
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"<Registry {self.plural}: {', '.join(self.names()) or 'empty'}>"

    # -- filling ---------------------------------------------------------------------
    def _ensure(self) -> None:
        if self._filled:
            return
        with self._lock:
            if self._filled:
                return
            self._manager.load()
            self._filled = True
            for plugin, _ in self._manager.ordered_impls(self.hook):
                self._call_hook(plugin)

    def _call_hook(self, plugin: str) -> None:
        impl = dict(self._manager.ordered_impls(self.hook)).get(plugin)
        if impl is None:
            return
        info = self._manager.info(plugin)

        def register(name: str, factory: Callable, *, help: str = "") -> None:
            self._add(name, factory, help=help, plugin=plugin)

        try:
            impl(register=register)
        except Exception as exc:
            self._manager._fail(PluginFailure(
                plugin, f"hook {self.hook}", _describe(exc),
                info.distribution if info else None, info.version if info else None,
                traceback.format_exc()))

    def _add(self, name: str, factory: Callable, *, help: str, plugin: str) -> None:
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise RegistryError(f"invalid {self.kind} name {name!r} from plugin '{plugin}': use letters, "
                                f"digits, '-', '_', '.' or '+', starting with a letter or digit")
        if not callable(factory):
            raise RegistryError(f"{self.kind} '{name}' from plugin '{plugin}' is not callable "
                                f"(got {type(factory).__name__}); register a class or function")
        with self._lock:
            if name in self._entries:
                other = self._entries[name].plugin
                raise DuplicateNameError(
                    f"{self.kind} '{name}' is registered twice: by plugin '{other}' and by plugin "
                    f"'{plugin}'; rename one of them or uninstall one plugin")
            self._entries[name] = Entry(self.kind, name, factory, str(help or "").strip(), plugin)

    def register(self, name: str, factory: Callable, *, help: str = "", plugin: str = USER) -> None:
        """Register ``factory`` under ``name`` from your own code (no plugin needed)."""
        self._ensure()
        self._add(name, factory, help=help, plugin=plugin)

    def unregister(self, name: str) -> None:
        """Remove a name (useful in tests and notebooks)."""
        self._ensure()
        self.entry(name)
        with self._lock:
            del self._entries[name]

    # -- lookup ----------------------------------------------------------------------
    def names(self) -> list[str]:
        self._ensure()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._ensure()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._ensure()
        return len(self._entries)

    def suggest(self, name: str) -> str | None:
        """The registered name closest to ``name``, if any is close."""
        names = self.names()
        lowered = {n.lower(): n for n in names}
        if name.lower() in lowered:
            return lowered[name.lower()]
        match = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
        return match[0] if match else None

    def entry(self, name: str) -> Entry:
        self._ensure()
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise UnknownNameError(self.kind, str(name), self.names(), self.suggest(str(name))) from None

    def get(self, name: str) -> Callable:
        """The factory registered under ``name``."""
        return self.entry(name).factory

    def help(self, name: str) -> str:
        return self.entry(name).help

    def plugin(self, name: str) -> str:
        """The name of the plugin that registered ``name``."""
        return self.entry(name).plugin

    def create(self, name: str, *args: Any, **options: Any) -> Any:
        """Call the factory of ``name``; errors from it name the plugin.

        :class:`SeqkitError`, ``ValueError`` and ``NotImplementedError`` raised by the
        factory pass through unchanged (they are its way to refuse options); anything
        else is wrapped in :class:`PluginError` naming the plugin.
        """
        entry = self.entry(name)
        try:
            return entry.factory(*args, **options)
        except (SeqkitError, ValueError, NotImplementedError):
            raise
        except TypeError as exc:
            raise PluginError(f"{self.kind} '{name}' (plugin '{entry.plugin}') rejected its options: "
                              f"{exc}") from exc
        except Exception as exc:
            raise PluginError(f"{self.kind} '{name}' (plugin '{entry.plugin}') failed: {_describe(exc)}") from exc

    def items(self) -> list[Entry]:
        return [self._entries[n] for n in self.names()]


manager = PluginManager()
_REGISTRIES: dict[str, Registry] = {}


def _make(kind: str, plural: str) -> Registry:
    reg = Registry(kind, plural, f"seqkit_register_{plural}", manager)
    _REGISTRIES[plural] = reg
    return reg


datasets = _make("dataset", "datasets")
encoders = _make("encoder", "encoders")
collators = _make("collator", "collators")
cells = _make("cell", "cells")
tasks = _make("task", "tasks")


def all_registries() -> dict[str, Registry]:
    """Every registry by its plural name, in a fixed order."""
    return dict(_REGISTRIES)


def plugins() -> list[PluginInfo]:
    """The plugins loaded so far, in load order."""
    return manager.plugins()


def failures() -> list[PluginFailure]:
    """Plugins that failed to import or raised in a hook."""
    for reg in _REGISTRIES.values():
        reg._ensure()
    return manager.failures()


def register_plugin(obj: Any, name: str | None = None) -> PluginInfo:
    """Register a plugin module or object from your own code."""
    return manager.register_plugin(obj, name)


def import_plugin(module: str) -> PluginInfo:
    """Import and register the plugin module ``module`` (``seqkit --plugin MODULE``)."""
    return manager.import_plugin(module)


def reset() -> None:
    """Forget every plugin and entry; the next use loads them again (for tests)."""
    global manager
    manager = PluginManager()
    for reg in _REGISTRIES.values():
        reg._manager = manager
        reg._entries.clear()
        reg._filled = False
