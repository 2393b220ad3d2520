"""Conformance checks for seqkit components: cells, collators, encoders, datasets and tasks.

In the spirit of scikit-learn's ``check_estimator`` / ``parametrize_with_checks``: a
plugin author checks a factory against the contract of docs/plugins.md with one call::

    from seqkit.testing import check_cell
    report = check_cell(MyCell)          # raises ConformanceError naming the failed check(s)
    print(report)                        # passed / skipped (with reasons) per check

or turns every check into its own pytest case::

    from seqkit.testing import parametrize_checks

    @parametrize_checks("cell", MyCell)
    def test_my_cell(check):
        check()

A factory may be a callable or the name of a registered component (``"gru"``,
``"classify"``).

Options a component does not support are *skipped*, not failed: when a cell factory
raises ``ValueError`` or ``NotImplementedError`` for, say, ``bidirectional=True``, the
checks of that configuration are reported as skipped with the factory's message (under
pytest they call ``pytest.skip``; :func:`check_cell` lists them in the returned
:class:`Report`). The basic configuration (one unidirectional layer, no dropout) must
be supported.

Capabilities (what a factory declares it can do beyond the contract, see
``seqkit.plugin.registry.CAPABILITIES``) come from a registered name's registration; for
a plain callable, state them: ``check_cell(MyCell, capabilities={"indices"})``. A check
of a capability that is not declared is skipped, naming it.

The checks use only the contract (``forward(x, h0=None) -> (output, h_n)`` on a
``PackedSequence`` or a ``(T, B, I)`` tensor, ...), never the class of a component:
torch's own modules are merely one implementation that passes.

One module per kind: :mod:`.cells`, :mod:`.collators`, :mod:`.encoders`,
:mod:`.datasets`, :mod:`.tasks`; the plumbing and the entry points common to all kinds
are in :mod:`.core`.
"""
from __future__ import annotations

from .cells import CELL_CONFIGS, CellConfig, cell_checks, check_cell
from .collators import check_collator, collator_checks
from .core import (KINDS, Check, CheckResult, CheckSkipped, ConformanceError, Report, check_component, check_names,
                   checks, parametrize_checks, run_check)
from .datasets import check_dataset, dataset_checks
from .encoders import UNICODE_TEXTS, UNSEEN_TEXTS, check_encoder, encoder_checks
from .tasks import check_task, task_checks

__all__ = [
    "KINDS", "CellConfig", "CELL_CONFIGS", "ConformanceError", "CheckSkipped", "CheckResult", "Report", "Check",
    "check_cell", "check_collator", "check_encoder", "check_dataset", "check_task", "check_component",
    "cell_checks", "collator_checks", "encoder_checks", "dataset_checks", "task_checks", "checks",
    "check_names", "run_check", "parametrize_checks",
    "UNICODE_TEXTS", "UNSEEN_TEXTS",
]
