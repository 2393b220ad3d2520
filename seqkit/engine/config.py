"""The options of a run: :class:`RunConfig`, each option declared once.

Every field of :class:`RunConfig` carries its :class:`~seqkit.options.Option` (type,
default, help, CLI flag, range): ``seqkit run`` is generated from these declarations
(:mod:`seqkit.cli.params`), :meth:`RunConfig.validate` checks them, and docs/cli.md is
generated from the CLI. Plugins declare the options of their own components through the
``seqkit_add_run_options`` hook; their values live in ``RunConfig.<component>_options``.

A task may change the defaults of a run (``register(..., defaults={...})``: seq2seq trains
on ``cmudict`` with its own sizes). ``RunConfig.for_task("seq2seq", epochs=3)`` applies
them explicitly, the CLI applies them to the options the user did not give, and
:func:`seqkit.engine.train` applies them to a config whose ``task_defaults_applied`` is
still False. This module imports no torch.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from ..data.files import ON_BAD_LINE
from ..errors import ConfigError, SeqkitError
from ..options import COMPONENTS, Option, option

OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("onecycle", "cosine", "none")
DEVICES = ("auto", "cpu", "cuda")
NAN_POLICIES = ("error", "skip")
#: --precision: float32 throughout, bfloat16 autocast for the matrix products, or auto
#: (bf16 where the hardware multiplies bf16 natively, see seqkit.engine.precision)
PRECISIONS = ("fp32", "bf16", "auto")
#: --cell / --collator auto: resolved once per run to a registered name (seqkit.engine.auto)
AUTO = "auto"
_UNIT = dict(min=0.0, max=1.0, max_open=True)  # [0, 1)


def _device(value: str) -> None:
    if not (value in DEVICES or (value.startswith("cuda:") and value[5:].isdigit())):
        raise ValueError("auto, cpu or cuda")


@dataclass
class RunConfig:
    """Every option of a run. The defaults are the configuration the README reports.

    Each field is declared with :func:`~seqkit.options.option`; ``seqkit run --help``
    shows them in this order. The ``*_options`` dicts hold keyword arguments for the
    components' factories (``-o COMPONENT.KEY=VALUE`` and the plugins' own options).
    """

    task: str = option("classify", registry="tasks", help="What to train.")
    dataset: str = option("name2lang", registry="datasets", help="Dataset plugin.")
    data: str | None = option(None, nullable=True, metavar="PATH",
                              help="Data file or directory (default: $SEQKIT_DATA, else the dataset's download).")
    encoder: str = option("index", registry="encoders", help="Text -> symbols.")
    collator: str = option(AUTO, registry="collators", extra_names=(AUTO,),
                           help="Examples -> batch (auto: fused-pack where seqkit's compiled ops load, else pack).")
    cell: str = option(AUTO, registry="cells", extra_names=(AUTO,),
                       help="Recurrent cell (auto: fused-gru where seqkit's compiled ops load and the run is on "
                            "the CPU, else torch's gru).")
    hidden_size: int = option(128, type=int, min=1, help="Hidden units of the cell (per direction).")
    layers: int = option(1, type=int, min=1, help="Stacked cell layers.")
    bidirectional: bool = option(True, type=bool, flag="--bidirectional/--unidirectional",
                                 help="Read each sequence in both directions.")
    dropout: float = option(0.0, type=float, **_UNIT, help="Dropout between cell layers.")
    head_dropout: float = option(0.3, type=float, **_UNIT, help="Dropout before the output head.")
    input_dropout: float = option(0.3, type=float, **_UNIT,
                                  help="Embedding dropout: one mask over the embedding table per batch (learned "
                                       "embeddings; not one-hot).")
    embedding_dim: int = option(64, type=int, min=1, help="Embedding width (index encoders).")
    epochs: int = option(12, type=int, min=1, help="Passes over the training split.")
    batch_size: int = option(64, type=int, min=1, help="Examples per batch (per process with --nproc).")
    lr: float = option(3e-3, type=float, min=0.0, min_open=True, requirement="a positive number",
                       help="(Peak) learning rate.")
    optimizer: str = option("adamw", choices=OPTIMIZERS, help="adamw and adam run torch's fused kernels.")
    weight_decay: float = option(0.05, type=float, min=0.0, help="Weight decay (decoupled for adamw).")
    momentum: float = option(0.9, type=float, min=0.0, help="SGD momentum.")
    schedule: str = option("onecycle", choices=SCHEDULES, help="Learning-rate schedule (stepped per batch).")
    clip: float | None = option(1.0, type=float, nullable=True, min=0.0, min_open=True, requirement="positive",
                                zero_is_off=True, help="Clip the gradient norm to this value (0: off).")
    ema: float = option(0.0, type=float, **_UNIT, requirement="in [0, 1) (0: off)",
                        help="Evaluate and save an exponential moving average of the weights with this decay "
                             "(0: off).")
    precision: str = option("fp32", choices=PRECISIONS,
                            help="bf16: mixed precision (bfloat16 autocast for the matrix products and the fused "
                                 "GRU's GEMMs; float32 weights, state and losses), fast where the CPU has bf16 "
                                 "instructions (AVX512-BF16, AMX) or on CUDA; auto: bf16 there, else fp32.")
    label_smoothing: float = option(0.1, type=float, **_UNIT, help="Label smoothing of the cross-entropy loss.")
    bucket: bool = option(True, type=bool, flag="--bucket/--no-bucket", help="Length-bucketed batches (little padding).")
    test_size: float = option(0.2, type=float, min=0.0, max=1.0, min_open=True, max_open=True,
                              help="Fraction of the data held out for testing.")
    split_seed: int = option(0, type=int, min=0, max=2**32 - 1,
                             help="random_state of the stratified split (0: the course's split).")
    dedup: bool = option(False, type=bool, flag="--dedup", show_default=False,
                         help="Drop duplicate pairs; keep each distinct text on one side of the split.")
    seed: int = option(0, type=int, min=0, max=2**63 - 1, help="Seed of the weights, batches and dropout.")
    device: str = option("auto", metavar="auto|cpu|cuda", validate=_device, control=True,
                         help="auto: CUDA when available, else the CPU; cuda:N for a given GPU.")
    workers: int = option(0, type=int, min=0, requirement=">= 0", control=True, help="DataLoader worker processes.")
    threads: int | None = option(None, type=int, nullable=True, min=1, requirement=">= 1", control=True,
                                 help="Threads to compute with (default: the cores this process may use, less "
                                      "those other processes keep busy).")
    on_bad_line: str = option("error", choices=ON_BAD_LINE,
                              help="Bad data lines: stop with an error, or skip and report them.")
    max_length: int = option(1000, type=int, min=1,
                             help="The longest text accepted, in characters: a longer one is a bad line (an error "
                                  "naming its file and line, or skipped with --on-bad-line skip).")
    truncate: bool = option(False, type=bool, flag="--truncate", show_default=False,
                            help="Cut texts longer than --max-length to that length instead (and count them).")
    nan_policy: str = option("error", choices=NAN_POLICIES,
                             help="A non-finite loss or gradient: stop with an error, or skip the step and count it.")
    checkpoint_every: int = option(0, type=int, min=0, requirement=">= 0 (0: every epoch only)", metavar="N",
                                   control=True,
                                   help="Also save the training state every N steps (0: after every epoch only).")
    resume: bool = option(False, type=bool, flag="--resume", show_default=False, control=True,
                          help="Continue the interrupted run in --out from its last saved state (same options).")
    overwrite: bool = option(False, type=bool, flag="--overwrite", show_default=False, control=True,
                             help="Replace what --out already holds: a finished or interrupted run (of any "
                                  "configuration), or other files.")
    out: str = option("runs/latest", metavar="DIR", control=True,
                      help="Run directory: metrics.json, history.jsonl, checkpoint.pt, loss.png, confusion.png.")
    quiet: bool = option(False, type=bool, flag="--quiet", show_default=False, control=True,
                         help="No progress bar or epoch lines.")
    dataset_options: dict = option({}, type=dict, cli=False)
    encoder_options: dict = option({}, type=dict, cli=False)
    collator_options: dict = option({}, type=dict, cli=False)
    cell_options: dict = option({}, type=dict, cli=False)
    task_options: dict = option({}, type=dict, cli=False)
    #: True once the task's defaults were applied (RunConfig.for_task, apply_task_defaults,
    #: the CLI): train() applies them to a config where it is still False
    task_defaults_applied: bool = option(False, type=bool, cli=False, control=True, compare=False)

    @classmethod
    def for_task(cls, task: str, **values) -> "RunConfig":
        """The global defaults, then ``task``'s own defaults, then ``values``."""
        return apply_task_defaults(cls(task=task, **values), explicit=set(values))

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        """A config from ``asdict(config)`` of this or an earlier seqkit (unknown keys dropped)."""
        values = migrate(values)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    @staticmethod
    def options() -> list[Option]:
        """The declaration of every field, in order (with its name)."""
        return [replace(f.metadata["option"], name=f.name) for f in fields(RunConfig)]

    def validate(self) -> "RunConfig":
        """``self`` if every option is in range (the plugins' own too), else a ConfigError."""
        for opt in self.options():
            if opt.type is not dict:
                opt.check(getattr(self, opt.name))
        if self.resume and self.overwrite:
            raise ConfigError("--resume and --overwrite exclude each other; pass one")
        for opt, value in self.check_owners():
            opt.check(value)
        return self

    def check_owners(self) -> list[tuple[Option, Any]]:
        """``(option, value)`` of every plugin option this config sets; an option whose owner
        is not the run's component of its kind is a ConfigError."""
        found = []
        for component, plugin, opt in plugin_options():
            values = getattr(self, f"{component}_options")
            if opt.name not in values:
                continue
            chosen = getattr(self, component)
            if opt.owner not in (None, chosen):
                raise ConfigError(f"{opt.display} is an option of {component} '{opt.owner}' (plugin '{plugin}'), "
                                  f"and this run's {component} is '{chosen}'; drop it or pass --{component} "
                                  f"{opt.owner}")
            found.append((opt, values[opt.name]))
        return found


def migrate(values: dict) -> dict:
    """A saved config of seqkit 0.1 in today's terms: ``balance`` became the classify task's
    own option (``task_options["balance"]``)."""
    values = dict(values)
    balance = values.pop("balance", "none")
    if balance != "none" and values.get("task", "classify") == "classify":
        values["task_options"] = {"balance": balance, **(values.get("task_options") or {})}
    return values


def run_control() -> tuple[str, ...]:
    """The fields that say how a run is executed, not what it computes: they may differ
    between a run and its --resume."""
    return tuple(opt.name for opt in RunConfig.options() if opt.control)


def plugin_options() -> list[tuple[str, str, Option]]:
    """``(component, plugin, option)`` for every option the plugins declared."""
    from ..plugin import registry

    reserved = [flag for opt in RunConfig.options() if opt.cli for flag in opt.flags]
    return [(opt.component, plugin, opt) for plugin, opt in registry.manager.run_options(reserved)
            if opt.component in COMPONENTS]


def typed_component_options(config: RunConfig) -> RunConfig:
    """``config`` with the text values of ``-o COMPONENT.KEY=VALUE`` in the types the components
    take: a plugin's declared option by its declaration, any other by the factory's annotation
    or default (bool, int, float). Booleans are written as people write them (true/false,
    yes/no, on/off, 1/0); anything else is a one-line ConfigError naming the option. The
    options of a component still ``auto`` are left as they are (typed once it is resolved)."""
    from ..plugin import registry

    changes = {}
    for component in COMPONENTS:
        values = getattr(config, f"{component}_options")
        chosen = getattr(config, component)
        if not values or chosen == AUTO:
            continue
        declared = {o.name: o for c, _, o in plugin_options() if c == component and o.owner in (None, chosen)}
        types = _parameter_types(registry.by_kind(component).get(chosen))
        typed = {}
        for key, value in values.items():
            opt = declared.get(key) or (Option(key, type=types[key], flag=f"-o {component}.{key}")
                                        if key in types else None)
            if opt is not None and isinstance(value, str):
                value = opt.parse(value)
            elif opt is not None and opt.type is bool and value in (0, 1) and not isinstance(value, bool):
                value = bool(value)
            typed[key] = value
        if any(typed[k] is not values[k] for k in values):  # (False == 0: compare identities)
            changes[f"{component}_options"] = typed
    return replace(config, **changes) if changes else config


def _parameter_types(factory: Any) -> dict[str, type]:
    """``{parameter: bool | int | float}`` for the parameters of ``factory`` annotated (or
    defaulting to) one of those types."""
    import inspect
    import typing

    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return {}
    try:
        hints = typing.get_type_hints(factory.__init__ if inspect.isclass(factory) else factory)
    except Exception:  # an annotation that does not evaluate: fall back to the defaults
        hints = {}
    out = {}
    for name, p in params.items():
        hint = hints.get(name)
        args = [a for a in typing.get_args(hint) if a is not type(None)] if typing.get_args(hint) else [hint]
        kind = args[0] if len(args) == 1 and args[0] in (bool, int, float) else type(p.default)
        if kind in (bool, int, float):
            out[name] = kind
    return out


def create(reg: Any, name: str, *args: Any, **options: Any) -> Any:
    """``reg.create``, with a factory's refusal (ValueError, NotImplementedError) as a
    ConfigError that names the component and its plugin."""
    try:
        return reg.create(name, *args, **options)
    except (ValueError, NotImplementedError) as exc:
        if isinstance(exc, SeqkitError):  # a DataError or ConfigError already says what and where
            raise
        raise ConfigError(f"{reg.kind} '{name}' (plugin '{reg.plugin(name)}') refused its options: "
                          f"{exc or type(exc).__name__}") from None


def make_task(config: RunConfig) -> Any:
    """The configured task, built with ``config.task_options`` (an option it does not take is
    a one-line PluginError naming the task, a value it refuses a ConfigError)."""
    from ..plugin import registry

    return create(registry.tasks, config.task, **config.task_options)


def global_defaults() -> dict[str, Any]:
    return {f.name: getattr(RunConfig(), f.name) for f in fields(RunConfig)}


def task_defaults(task: str) -> dict[str, Any]:
    """The run options ``task`` changes (declared when it was registered)."""
    from ..plugin import registry

    glob = global_defaults()
    defaults = dict(registry.tasks.entry(task).defaults)
    unknown = sorted(set(defaults) - set(glob) - {"task"})
    if unknown:
        raise ConfigError(f"task '{task}' (plugin '{registry.tasks.plugin(task)}') declares defaults for unknown "
                          f"options {', '.join(unknown)}; fix the plugin")
    return {k: v for k, v in defaults.items() if k != "task"}


def apply_task_defaults(config: RunConfig, explicit: set[str] | None = None) -> RunConfig:
    """``config`` with its task's defaults for every field not in ``explicit`` (None: every
    field still equal to the global default); also checks that the task takes its options."""
    make_task(config)
    glob = global_defaults()
    if explicit is None:
        explicit = {k for k, v in glob.items() if getattr(config, k) != v}
    changes = {k: v for k, v in task_defaults(config.task).items()
               if k not in explicit and getattr(config, k) != v}
    return replace(config, **changes, task_defaults_applied=True)


def applied_task_defaults(config: RunConfig) -> dict[str, Any]:
    """The task defaults ``config`` holds where they differ from the global ones (for the log)."""
    glob = global_defaults()
    return {k: v for k, v in task_defaults(config.task).items() if getattr(config, k) == v and glob.get(k) != v}


def config_dict(config: RunConfig) -> dict[str, Any]:
    """``asdict(config)``: what checkpoints and metrics.json store."""
    return asdict(config)
