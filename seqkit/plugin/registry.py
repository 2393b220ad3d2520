"""Registries of datasets, encoders, collators, cells and tasks, filled by plugins.

Usage::

    from seqkit import registry
    registry.cells.names()                  # ['fused-gru', 'gru', 'lstm', 'rnn', ...]
    gru = registry.cells.create("gru", input_size=57, hidden_size=128)
    registry.cells.plugin("gru")            # 'seqkit.cells'
    "gru" in registry.cells                 # True
    registry.cells.entry("fused-gru").capabilities   # frozenset({'indices', 'embedding'})

Each registry calls its hook (``seqkit_register_<plural>``) in every plugin the first
time it is used (see :mod:`seqkit.plugin.manager` for discovery and load order). A name
is registered with a factory, a help line and, where a kind has them, the capabilities
the factory declares (:data:`CAPABILITIES`) and, for tasks, the run defaults the task
changes.
"""
from __future__ import annotations

import difflib
import importlib
import re
import threading
import traceback
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Iterator, Mapping

from ..errors import DuplicateNameError, PluginError, RegistryError, SeqkitError, UnknownNameError
from .manager import PluginFailure, PluginInfo, PluginManager, describe

USER = "<user>"  # the plugin name of entries registered directly from Python code
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_TARGET_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")

#: The component kinds, in the order they meet the data: (kind, plural of its registry).
KINDS: tuple[tuple[str, str], ...] = (("dataset", "datasets"), ("encoder", "encoders"), ("collator", "collators"),
                                      ("cell", "cells"), ("task", "tasks"))

#: What a factory may declare it can do, per kind (``register(..., capabilities={...})``).
CAPABILITIES: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "cell": MappingProxyType({
        "indices": "takes integer symbol indices where one-hot rows are meant (its first layer gathers "
                   "W_ih columns); the model then hands it the indices",
        "embedding": "takes integer symbol indices with embedding=E, a [num_symbols, input_size] table, "
                     "and gives what it gives for the rows E[indices] (folding E into its input "
                     "projection); a model with a learned embedding then hands it the indices and E",
    }),
})


@dataclass(frozen=True)
class Entry:
    """One registered name: its factory, help line, plugin, and what it declared.

    ``target`` is what was registered: the factory itself, or ``"module:attribute"``, the
    place to import it from on first use (so that registering a name costs no import: the
    CLI lists names and shows help without loading torch). :attr:`factory` is the callable.
    """

    kind: str
    name: str
    target: Callable | str
    help: str
    plugin: str
    capabilities: frozenset = frozenset()
    #: tasks: the run options (RunConfig fields) this task sets where the user set nothing
    defaults: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def factory(self) -> Callable:
        """The factory, imported from ``target`` the first time it is asked for."""
        if not isinstance(self.target, str):
            return self.target
        module, _, attr = self.target.partition(":")
        try:
            obj = importlib.import_module(module)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except Exception as exc:
            raise PluginError(f"{self.kind} '{self.name}' (plugin '{self.plugin}') could not be imported from "
                              f"{self.target}: {describe(exc)}") from exc
        if not callable(obj):
            raise PluginError(f"{self.kind} '{self.name}' (plugin '{self.plugin}'): {self.target} is not callable "
                              f"(got {type(obj).__name__})")
        object.__setattr__(self, "target", obj)
        return obj

    def can(self, capability: str) -> bool:
        """Whether the factory declared ``capability`` (see :data:`CAPABILITIES`)."""
        return capability in self.capabilities


class Registry:
    """Names -> factories for one kind of component (datasets, cells, ...)."""

    def __init__(self, kind: str, plural: str, hook: str, manager: PluginManager):
        self.kind, self.plural, self.hook = kind, plural, hook
        self._manager = manager
        manager.registries.append(self)
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

        def register(name: str, factory: Callable, *, help: str = "", capabilities=(), defaults=None) -> None:
            self._add(name, factory, help=help, plugin=plugin, capabilities=capabilities, defaults=defaults)

        try:
            impl(register=register)
        except Exception as exc:
            self._manager._fail_hook(plugin, self.hook, describe(exc), traceback.format_exc())

    def _add(self, name: str, factory: Callable, *, help: str, plugin: str, capabilities=(),
             defaults: Mapping[str, Any] | None = None) -> None:
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise RegistryError(f"invalid {self.kind} name {name!r} from plugin '{plugin}': use letters, "
                                f"digits, '-', '_', '.' or '+', starting with a letter or digit")
        if isinstance(factory, str):
            if not _TARGET_RE.match(factory):
                raise RegistryError(f"{self.kind} '{name}' from plugin '{plugin}': {factory!r} is not a "
                                    f"'module:attribute' path; register a class, a function or such a path")
        elif not callable(factory):
            raise RegistryError(f"{self.kind} '{name}' from plugin '{plugin}' is not callable "
                                f"(got {type(factory).__name__}); register a class, a function or a "
                                f"'module:attribute' path")
        caps = self._capabilities(name, plugin, capabilities)
        if defaults and self.kind != "task":
            raise RegistryError(f"{self.kind} '{name}' from plugin '{plugin}' declares run defaults; only tasks "
                                f"may (drop defaults=)")
        with self._lock:
            if name in self._entries:
                other = self._entries[name].plugin
                raise DuplicateNameError(
                    f"{self.kind} '{name}' is registered twice: by plugin '{other}' and by plugin "
                    f"'{plugin}'; rename one of them or uninstall one plugin")
            self._entries[name] = Entry(self.kind, name, factory, str(help or "").strip(), plugin, caps,
                                        MappingProxyType(dict(defaults or {})))

    def _capabilities(self, name: str, plugin: str, capabilities) -> frozenset:
        caps = frozenset([capabilities] if isinstance(capabilities, str) else capabilities or ())
        known = CAPABILITIES.get(self.kind, {})
        unknown = sorted(caps - set(known))
        if unknown:
            listed = ", ".join(sorted(known)) if known else "none"
            raise RegistryError(f"{self.kind} '{name}' from plugin '{plugin}' declares unknown capabilities "
                                f"{', '.join(unknown)} (a {self.kind} can declare: {listed})")
        return caps

    def register(self, name: str, factory: Callable, *, help: str = "", plugin: str = USER, capabilities=(),
                 defaults: Mapping[str, Any] | None = None) -> None:
        """Register ``factory`` under ``name`` from your own code (no plugin needed)."""
        self._ensure()
        self._add(name, factory, help=help, plugin=plugin, capabilities=capabilities, defaults=defaults)

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
            raise PluginError(f"{self.kind} '{name}' (plugin '{entry.plugin}') failed: {describe(exc)}") from exc

    def items(self) -> list[Entry]:
        return [self._entries[n] for n in self.names()]


manager = PluginManager()
datasets = Registry("dataset", "datasets", "seqkit_register_datasets", manager)
encoders = Registry("encoder", "encoders", "seqkit_register_encoders", manager)
collators = Registry("collator", "collators", "seqkit_register_collators", manager)
cells = Registry("cell", "cells", "seqkit_register_cells", manager)
tasks = Registry("task", "tasks", "seqkit_register_tasks", manager)
_REGISTRIES: dict[str, Registry] = {plural: globals()[plural] for _, plural in KINDS}


def all_registries() -> dict[str, Registry]:
    """Every registry by its plural name, in a fixed order."""
    return dict(_REGISTRIES)


def by_kind(kind: str) -> Registry:
    """The registry of ``kind`` (``"cell"``, ``"cells"``, ...)."""
    for singular, plural in KINDS:
        if kind in (singular, plural):
            return _REGISTRIES[plural]
    raise ValueError(f"kind must be one of {', '.join(k for k, _ in KINDS)}, got {kind!r}")


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
        manager.registries.append(reg)
        reg._entries.clear()
        reg._filled = False
