"""Hook specifications: the whole contract between seqkit and its plugins.

A plugin is a module (or object) found through the ``seqkit`` entry-point group and
implementing any of these hooks with :data:`hookimpl`::

    from seqkit import hookimpl

    @hookimpl
    def seqkit_register_cells(register):
        register("my-gru", MyGRU, help="a GRU written from scratch")

Every hook receives a ``register(name, factory, *, help="")`` callback. Each hook is
called once per plugin, the first time its registry is used, in the documented plugin
order (see docs/plugins.md, "Load order"). The factories' contracts are documented in
docs/plugins.md and checked by the tests.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Protocol

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    import click

PROJECT_NAME = "seqkit"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class Register(Protocol):
    """The callback handed to every ``seqkit_register_*`` hook."""

    def __call__(self, name: str, factory: Callable, *, help: str = "") -> None: ...


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
    :class:`seqkit.encoding.Encoder`). Returns nothing.
    """


@hookspec
def seqkit_register_collators(register: Register) -> None:
    """Register collator factories.

    Called once per plugin, the first time ``registry.collators`` is used.
    ``factory(encoder, **options)`` returns a callable that turns a list of
    ``(text, label_index)`` pairs into a :class:`seqkit.batch.Batch`: the model input (a
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
    ``factory(**options)`` returns a :class:`seqkit.tasks.Task`: it builds the model
    around a registered cell, computes the loss of a batch, and evaluates a model on a
    data loader. The engine knows nothing else about the task. Returns nothing.
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
