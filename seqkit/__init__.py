"""seqkit: batched sequence models in PyTorch.

A map of the package, in the order the data flows (each a subpackage):

- ``seqkit.plugin``: hook specifications, plugin discovery, the registries.
  ``seqkit.registry`` is the registries module (``from seqkit import registry``).
- ``seqkit.data``: file reading, corpora, datasets, splits, encoders, batch sampling,
  the :class:`Batch` and :class:`Collator` base class.
- ``seqkit.ops``: the compiled ops (encode-and-pack, fused GRU) and their references.
- ``seqkit.nn``: modules on the ops: :class:`FusedGRU`, the lean fused optimizers.
- ``seqkit.engine``: :class:`RunConfig`, :func:`train`, the task seam (:class:`Task`),
  checkpoints, resume, data-parallel runs, :func:`load_run` / :func:`predict` /
  :func:`evaluate_run`, :func:`export_run`.
- ``seqkit.cli``: the ``seqkit`` command line, generated from the option declarations.
- ``seqkit.testing``: the conformance kit for third-party components.

The names in ``__all__`` are importable from ``seqkit`` itself. Importing seqkit is
cheap: it imports neither torch nor any plugin; each name loads its module on first use,
and plugins load on first use of a registry.
"""
from __future__ import annotations

import sys

from . import lazy

__version__ = "0.2.0.dev0"

from .plugin import registry  # noqa: E402
from .plugin.hookspecs import hookimpl  # noqa: E402

# ``seqkit.registry`` is the public name of the registries module (it lives in
# seqkit/plugin/registry.py): ``import seqkit.registry`` and ``from seqkit.registry import
# Registry`` work as ``from seqkit import registry`` does.
sys.modules.setdefault(f"{__name__}.registry", registry)

_WHERE = {
    "RunConfig": "seqkit.engine.config", "train": "seqkit.engine.trainer",
    "load_run": "seqkit.engine.inference", "predict": "seqkit.engine.inference",
    "evaluate_run": "seqkit.engine.inference", "export_run": "seqkit.engine.export",
    "Task": "seqkit.engine.task", "TaskContext": "seqkit.engine.task",
    "Batch": "seqkit.data.batch", "Collator": "seqkit.data.batch", "Encoder": "seqkit.data.encoding",
    "PairDataset": "seqkit.data.dataset", "FusedGRU": "seqkit.nn.fused_gru", "Option": "seqkit.options",
}

__all__ = ["__version__", "hookimpl", "registry", *sorted(_WHERE)]
__getattr__, __dir__ = lazy.exports(__name__, _WHERE)
