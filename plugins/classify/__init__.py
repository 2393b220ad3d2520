"""Built-in plugin ``seqkit.classify``: sequence -> one class (e.g. surname -> language).

One place for the whole feature:

- :mod:`.task`: the ``classify`` task (split, model, loss, evaluation, prediction);
- :mod:`.model`: the input layer and the sequence classifier around a registered cell;
- :mod:`.metrics`: top-k accuracy, macro-F1, per-class accuracy, confusion (scikit-learn);
- :mod:`.plots`: ``confusion.png``;
- :mod:`.datasets`: the ``name2lang`` and ``csv`` datasets (labelled text files).

The hooks below register them as ``module:attribute`` targets, imported on first use (the
CLI lists and completes names without loading torch); the task's own option
``--balance`` is declared here.
"""
from __future__ import annotations

from seqkit import hookimpl
from seqkit.options import Option


@hookimpl
def seqkit_register_tasks(register):
    register("classify", f"{__name__}.task:ClassifyTask",
             help="sequence -> class: cross-entropy, top-k accuracy, macro-F1, confusion")


@hookimpl
def seqkit_register_datasets(register):
    register("name2lang", f"{__name__}.datasets:name2lang",
             help="surname -> language (18 languages, 20,074 names): --data DIR of <Language>.txt or a "
                  "name,language file; else $SEQKIT_DATA, else downloaded once and verified")
    register("csv", f"{__name__}.datasets:csv_dataset", help="any text,label CSV/TSV file (--data FILE), header optional, any Unicode")


@hookimpl
def seqkit_add_run_options(add):
    add(Option("balance", default="none", choices=("none", "sampler", "loss"), component="task", owner="classify",
               help="Class balancing: weighted sampler, weighted loss, or none."))
