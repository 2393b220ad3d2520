"""Run options, each declared once: type, default, help, CLI spelling and range.

An :class:`Option` is the single declaration from which seqkit derives everything about
one option of a run: the :class:`~seqkit.engine.config.RunConfig` field (its metadata),
the ``seqkit run`` flag and its help (the CLI is generated from the declarations), the
range check (:meth:`Option.check`, one line naming the flag) and the generated
docs/cli.md. Core options are RunConfig fields (``field(metadata={"option": ...})`` via
:func:`option`); a plugin adds options for its own components through the
``seqkit_add_run_options`` hook::

    @hookimpl
    def seqkit_add_run_options(add):
        add(Option("beam", type=int, min=1, metavar="K", component="task", owner="seq2seq",
                   help="seq2seq: beam width of the evaluation decoding (1: greedy)."))

A plugin option's value goes to ``RunConfig.<component>_options[name]`` when it is given
(on the command line, with ``-o component.name=value``, or in Python), so the component's
factory receives it as a keyword argument; when it is not given the factory's own default
applies. This module imports nothing heavy (no torch): ``seqkit --help`` reads it.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import ConfigError
from .plugin.registry import KINDS

#: the components that take ``-o COMPONENT.KEY=VALUE`` options: every kind of the registries
COMPONENTS = tuple(kind for kind, _ in KINDS)
_BOOL_WORDS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


@dataclass(frozen=True)
class Option:
    """One option of ``seqkit run`` / :class:`~seqkit.engine.config.RunConfig`.

    - ``name``: the Python name (``hidden_size``); the flag is ``--hidden-size`` unless
      ``flag`` spells it (``"--bidirectional/--unidirectional"`` for an on/off pair).
    - ``type``: ``int``, ``float``, ``str`` or ``bool``; ``choices`` a fixed list,
      ``registry`` the plural of a registry whose names are the choices (``"cells"``),
      ``extra_names`` values it takes besides the registry's names (``("auto",)``).
    - ``min`` / ``max``: the range (``min_open`` / ``max_open``: the bound itself is
      excluded); ``requirement`` words it for the error when the generated words do not fit.
    - ``nullable``: None is allowed (it means "off" or "the default of the component").
    - ``control``: the option says how a run is executed, not what it computes (``--out``,
      ``--threads``): it may differ between a run and its ``--resume``.
    - ``component`` / ``owner``: for a plugin's option, the component kind it feeds
      (``task``) and the name of the component that takes it (``seq2seq``; None: any).
    - ``cli``: whether ``seqkit run`` shows it (``show_default``: with its default);
      ``zero_is_off``: on the command line 0 stands for None (off).
    """

    name: str = ""
    type: type = str
    default: Any = None
    help: str = ""
    choices: tuple[str, ...] | None = None
    registry: str | None = None
    extra_names: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False
    requirement: str | None = None
    nullable: bool = False
    flag: str | None = None
    metavar: str | None = None
    control: bool = False
    component: str | None = None
    owner: str | None = None
    cli: bool = True
    show_default: bool = True
    #: on the command line, 0 means "off" (None): ``--clip 0``
    zero_is_off: bool = False
    #: a plugin's component option that ``seqkit predict`` and ``eval`` offer too, where it
    #: overrides the trained run's value (seq2seq's ``--beam``)
    inference: bool = False
    #: an extra check: ``validate(value) -> None`` raising ValueError with the requirement
    validate: Callable[[Any], None] | None = field(default=None, compare=False)

    def __post_init__(self):
        if self.component is not None and self.component not in COMPONENTS:
            raise ValueError(f"option {self.name!r}: component must be one of {', '.join(COMPONENTS)}, "
                             f"got {self.component!r}")

    # -- naming ----------------------------------------------------------------------
    @property
    def flags(self) -> list[str]:
        """The CLI spellings: ``["--hidden-size"]`` or ``["--bidirectional", "--unidirectional"]``."""
        return (self.flag or "--" + self.name.replace("_", "-")).split("/")

    @property
    def display(self) -> str:
        """How an error names the option: its first flag."""
        return self.flags[0]

    # -- values ----------------------------------------------------------------------
    def parse(self, raw: str) -> Any:
        """A value written as text (``-o`` values, environment) in this option's type."""
        text = raw.strip()
        if self.nullable and text.lower() in ("", "none", "null"):
            return None
        if self.type is bool:
            value = _BOOL_WORDS.get(text.lower())
            if value is None:
                raise ConfigError(f"{self.display} takes true/false (yes/no, on/off, 1/0), got {raw!r}")
            return value
        if self.type in (int, float):
            try:
                return self.type(text)
            except ValueError:
                kind = "an integer" if self.type is int else "a number"
                raise ConfigError(f"{self.display} takes {kind}, got {raw!r}") from None
        return raw

    def check(self, value: Any) -> Any:
        """``value`` if it is allowed, else a :class:`ConfigError` naming the flag."""
        if value is None:
            if self.nullable or self.default is None:
                return value
            raise ConfigError(f"{self.display} needs a value")
        if not self._has_type(value):
            raise ConfigError(f"{self.display} takes {self._type_words()}, got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise ConfigError(f"{self.display} must be one of {', '.join(self.choices)}, got {value!r}")
        if (self.min is not None or self.max is not None) and not self._in_range(value):
            raise ConfigError(f"{self.display} must be {self.requirement or self._range_words()}, got {value}")
        if self.validate is not None:
            try:
                self.validate(value)
            except ValueError as exc:
                raise ConfigError(f"{self.display} must be {exc}, got {value!r}") from None
        return value

    def _has_type(self, value: Any) -> bool:
        if self.type is bool:
            return isinstance(value, bool)
        if self.type is int:
            return isinstance(value, numbers.Integral) and not isinstance(value, bool)
        if self.type is float:
            return isinstance(value, numbers.Real) and not isinstance(value, bool)
        return isinstance(value, self.type)

    def _type_words(self) -> str:
        return {bool: "true or false", int: "an integer", float: "a number"}.get(self.type, "text")

    def _in_range(self, value: Any) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.min is not None and (value <= self.min if self.min_open else value < self.min):
            return False
        if self.max is not None and (value >= self.max if self.max_open else value > self.max):
            return False
        return True

    def _range_words(self) -> str:
        lo, hi = _num(self.min), _num(self.max)
        if self.min is not None and self.max is not None:
            if self.min_open and self.max_open:
                return f"between {lo} and {hi} (exclusive)"
            return f"in {'(' if self.min_open else '['}{lo}, {hi}{')' if self.max_open else ']'}"
        if self.min is not None:
            return f"greater than {lo}" if self.min_open else f"at least {lo}"
        return f"less than {hi}" if self.max_open else f"at most {hi}"


def _num(x: float | None) -> str:
    return str(int(x)) if x is not None and float(x).is_integer() else str(x)


def option(default: Any, *, compare: bool = True, **declaration: Any) -> Any:
    """A dataclass field whose metadata is the :class:`Option` (``name`` is the field's);
    ``compare=False`` leaves the field out of ``==``."""
    decl = Option(default=default, **declaration)
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), compare=compare, metadata={"option": decl})
    return field(default=default, compare=compare, metadata={"option": decl})


def parse_component_options(items: tuple[str, ...] | list[str], allowed: tuple[str, ...] = COMPONENTS
                            ) -> dict[str, dict[str, Any]]:
    """``-o cell.nonlinearity=relu`` -> ``{"cell": {"nonlinearity": "relu"}}``.

    Values are read as JSON where they parse (``5``, ``1.5``, ``true``, ``"x"``), else kept
    as text; keys may use ``-`` for ``_``. A malformed item is a :class:`ConfigError`.
    """
    import json

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        comp, dot, opt = key.partition(".")
        if not sep or not dot or comp not in allowed or not opt:
            example = "cell.nonlinearity=relu" if "cell" in allowed else "task.length_penalty=1.0"
            raise ConfigError(f"-o {item!r}: expected COMPONENT.OPTION=VALUE with COMPONENT one of "
                              f"{', '.join(allowed)} (e.g. -o {example})")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        out.setdefault(comp, {})[opt.replace("-", "_")] = value
    return out
