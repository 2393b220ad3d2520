"""Hook specifications: the whole contract between seqkit and its plugins.

A plugin is a module (or object) found through the ``seqkit`` entry-point group and
implementing any of these hooks with :data:`hookimpl`::

    from seqkit import hookimpl

    @hookimpl
    def seqkit_register_cells(register):
        register("my-gru", MyGRU, help="a GRU written from scratch")

Every ``seqkit_register_*`` hook receives a ``register(name, factory, *, help="",
capabilities=(), defaults=None)`` callback. Each hook is called once per plugin, the first
time its registry is used, in the documented plugin order (see docs/plugins.md, "Load
order"). The factories' contracts are documented in docs/plugins.md and checked by the
conformance kit (:mod:`seqkit.testing`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Protocol

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    import click

    from ..options import Option

PROJECT_NAME = "seqkit"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class Register(Protocol):
    """The callback handed to every ``seqkit_register_*`` hook.

    - ``help``: one line for ``seqkit plugins``, ``--help`` and shell completion.
    - ``capabilities``: what the factory's components can do beyond the contract, from
      :data:`seqkit.plugin.registry.CAPABILITIES` (cells: ``"indices"``, it takes symbol
      indices for one-hot input; ``"embedding"``, it folds a learned embedding table given as
      ``embedding=``). Declared here, never read back from the component.
    - ``defaults``: tasks only: the run options (RunConfig fields) the task uses where the
      user set nothing, e.g. ``{"dataset": "cmudict", "epochs": 22}``.
    """

    def __call__(self, name: str, factory: Callable, *, help: str = "", capabilities: Iterable[str] = (),
                 defaults: Mapping[str, Any] | None = None) -> None: ...


class AddOption(Protocol):
    """The callback handed to ``seqkit_add_run_options``: declares one option."""

    def __call__(self, option: "Option") -> None: ...


@hookspec
def seqkit_register_datasets(register: Register) -> None:
    """Register dataset factories.

    Called once per plugin, the first time ``registry.datasets`` is used.
    ``factory(path: str | None = None, **options)`` returns a
    ``torch.utils.data.Dataset`` of ``(text: str, label: str)`` pairs with a ``.labels``
    attribute (the sorted class names); a dataset for another task (e.g. sequence pairs
    for ``seq2seq``) may have no ``labels`` and provide ``texts``, ``lengths()`` and
    ``subset(indices)`` instead. Returns nothing.
    """


@hookspec
def seqkit_register_encoders(register: Register) -> None:
    """Register encoder factories.

    Called once per plugin, the first time ``registry.encoders`` is used.
    ``factory(**options)`` returns an object that maps any Unicode text to symbol indices
    over an alphabet (fitted on the training texts with ``fit(texts)``, or fixed), with
    ``size`` counting the reserved padding and unknown symbols (see
    :class:`seqkit.data.encoding.Encoder`). Returns nothing.
    """


@hookspec
def seqkit_register_collators(register: Register) -> None:
    """Register collator factories.

    Called once per plugin, the first time ``registry.collators`` is used.
    ``factory(encoder, **options)`` returns a callable that turns a list of
    ``(text, label_index)`` pairs into a :class:`seqkit.data.batch.Batch`: the model input (a
    ``PackedSequence``, or a padded ``(T, B)`` tensor with lengths), the targets aligned
    with it, and the lengths. Returns nothing.
    """


@hookspec
def seqkit_register_cells(register: Register) -> None:
    """Register recurrent cell factories.

    Called once per plugin, the first time ``registry.cells`` is used.
    ``factory(input_size, hidden_size, num_layers=1, dropout=0.0, bidirectional=False,
    **options)`` returns an ``nn.Module`` whose ``forward(x, h0=None)`` takes a
    ``PackedSequence`` or a ``(T, B, I)`` tensor and returns ``(output, h_n)`` exactly as
    ``torch.nn.GRU`` does (``h_n`` in the caller's batch order; a tuple for LSTM-like
    cells). Returns nothing.
    """


@hookspec
def seqkit_register_tasks(register: Register) -> None:
    """Register tasks: what a training run optimises and measures.

    Called once per plugin, the first time ``registry.tasks`` is used.
    ``factory(**options)`` returns a :class:`seqkit.engine.task.Task`: it splits the
    data, builds the model around a registered cell, computes the loss of a batch,
    evaluates a model on a data loader and writes its own artifacts; it gets what it needs
    from the engine in a :class:`seqkit.engine.task.TaskContext`. The engine knows nothing
    else about the task. ``register(..., defaults={...})`` declares the run options the
    task changes (see :class:`Register`). Returns nothing.
    """


@hookspec
def seqkit_add_run_options(add: AddOption) -> None:
    """Declare options of ``seqkit run`` for this plugin's components (as pytest plugins do
    with ``pytest_addoption``).

    Called once per plugin when the options are first needed (building the CLI, checking
    a :class:`~seqkit.engine.config.RunConfig`). ``add(Option(...))`` declares one option
    (:class:`seqkit.options.Option`) with its ``component`` (``"task"``, ``"cell"``, ...) and
    ``owner`` (the component's registered name): ``seqkit run`` shows the flag, checks its
    range, and passes a given value to the owner's factory as a keyword argument
    (``RunConfig.<component>_options``). A flag that another option already uses is a plugin
    failure (the first declaration is kept). Returns nothing.
    """


@hookspec
def seqkit_register_commands(cli: "click.Group") -> None:
    """Add subcommands to the ``seqkit`` command line.

    Called once per plugin each time the CLI is built (:func:`seqkit.cli.build_cli`),
    after the built-in commands exist, with the ``click.Group``; add commands with
    ``cli.add_command(...)`` or ``@cli.command()``. A plugin may not replace an existing
    command (that is reported as a plugin failure and the original is kept).
    ``seqkit plugins`` lists each command with its plugin. Returns nothing.
    """
