"""The ``seq2seq`` task: sequence -> sequence (e.g. word -> phonemes on ``cmudict``).

An encoder-decoder over registered cells (:mod:`seqkit_plugins.seq2seq.model`): the engine's encoder
and collator turn the source text into a packed batch exactly as for classification,
and :class:`Seq2SeqCollator` adds the target token indices. Loss: cross-entropy averaged
over real target tokens. Metrics: token error rate ``per``, sequence error rate ``wer``
and ``exact_match`` (fractions, :mod:`seqkit_plugins.seq2seq.metrics`), with greedy or beam decoding.

Task options (``-o task.KEY=VALUE``, or the ``seqkit run`` flags in brackets):
``beam`` [``--beam``], ``teacher_forcing`` [``--teacher-forcing``], ``attention``
[``--attention/--no-attention``], ``feed`` [``--feed``], ``decoder_hidden`` (default 256),
``decoder_layers`` (default: ``--layers``, which sets the encoder's),
``max_len`` (decoding steps; default 2 x source length + 10), ``length_penalty`` (beam
ranking by logp / length ** penalty; default 0), ``show_errors``
(examples printed).
"""
from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from seqkit.data.batch import Batch
from seqkit.engine.task import Task, TaskContext
from seqkit.errors import ConfigError, DataError

from . import DEFAULTS, FEEDS
from .metrics import best_reference, sequence_metrics
from .model import BOS, EOS, PAD, UNK, Seq2Seq, Seq2SeqBatch, TargetVocab, decode, masked_cross_entropy, target_tensor


def target_tokens(target: Any) -> list[str]:
    """A dataset's target as tokens: a sequence of tokens as is, a string as its characters."""
    return list(target)


class Seq2SeqCollator:
    """``[(text, target_tokens)]`` -> :class:`Seq2SeqBatch`: the source through the
    configured registry collator (``pack``, ``pad``, ``fused-pack``: no labels), targets
    as ``(B, T)`` indices + EOS, PAD-padded, in the caller's order."""

    def __init__(self, source_collator, vocab: TargetVocab):
        self.source, self.vocab = source_collator, vocab

    def __call__(self, items: Sequence[tuple[str, Any]]) -> Seq2SeqBatch:
        if len(items) == 0:
            raise DataError("cannot collate an empty batch; check the sampler and batch size")
        src = self.source([(item[0], None) for item in items])
        raw = [item[1] if len(item) > 1 else None for item in items]
        if all(r is None for r in raw):
            return Seq2SeqBatch(src.inputs, src.lengths, None, 0)
        if any(r is None for r in raw):
            i = raw.index(None)
            raise DataError(f"batch item {i} ({items[i][0]!r}) has no target while others do")
        seqs = [self.vocab.encode(target_tokens(r)) for r in raw]
        return Seq2SeqBatch(src.inputs, src.lengths, target_tensor(seqs), sum(len(s) for s in seqs))


def source_rows(batch: Batch) -> list[tuple[int, ...]]:
    """Each example's source symbol indices (caller's order), without padding."""
    lengths = batch.lengths.tolist()
    if isinstance(batch.inputs, PackedSequence):
        padded, _ = pad_packed_sequence(batch.inputs, batch_first=True)
        rows = padded.cpu().tolist()
    else:
        rows = batch.inputs.cpu().t().tolist()
    return [tuple(r[:n]) for r, n in zip(rows, lengths)]


class Seq2SeqTask(Task):
    """Encoder-decoder with masked loss, optional Luong attention, greedy/beam decoding."""

    name = "seq2seq"
    headline = "wer"
    summary_keys = ("per", "wer", "exact_match")
    #: the run options this task uses unless the user set them (declared when the task is
    #: registered; see docs/seq2seq.md)
    defaults: ClassVar[dict] = DEFAULTS

    def __init__(self, *, beam: int = 5, teacher_forcing: float = 1.0, attention: bool = True,
                 decoder_hidden: int | None = 256, decoder_layers: int | None = None, max_len: int | None = None,
                 length_penalty: float = 0.0, feed: str = "layer", show_errors: int = 10):
        if int(beam) < 1:
            raise ConfigError(f"--beam must be at least 1 (1: greedy), got {beam}")
        if not 0.0 <= float(teacher_forcing) <= 1.0:
            raise ConfigError(f"--teacher-forcing must be in [0, 1], got {teacher_forcing}")
        if decoder_hidden is not None and int(decoder_hidden) < 1:
            raise ConfigError(f"-o task.decoder_hidden must be at least 1, got {decoder_hidden}")
        if decoder_layers is not None and int(decoder_layers) < 1:
            raise ConfigError(f"-o task.decoder_layers must be at least 1, got {decoder_layers}")
        self.decoder_layers = None if decoder_layers is None else int(decoder_layers)
        if feed not in FEEDS:
            raise ConfigError(f"--feed must be one of {', '.join(FEEDS)}, got {feed!r}")
        if feed != "none" and not attention:
            raise ConfigError(f"--feed {feed} feeds the attention context to the decoder: it needs --attention")
        self.feed = feed
        self.beam, self.teacher_forcing, self.attention = int(beam), float(teacher_forcing), bool(attention)
        self.decoder_hidden = None if decoder_hidden is None else int(decoder_hidden)
        self.max_len = None if max_len is None else int(max_len)
        self.length_penalty, self.show_errors = float(length_penalty), int(show_errors)
        self.vocab = TargetVocab()
        self.joiner = " "
        self.label_smoothing = 0.0
        self.quiet = False
        self.encoder = None
        self.errors: list[tuple[str, str, str]] = []
        self.unknown_target_tokens = 0
        # every valid target of a text in the data file (cmudict: all pronunciations), for
        # the *_any metrics; keyed by encoded source once the encoder is known
        self.references: dict[str, list[tuple[str, ...]]] | None = None
        self._references_by_source: dict[tuple, list[tuple[str, ...]]] | None = None

    # -- data ----------------------------------------------------------------------
    def split(self, ds, ctx: TaskContext):
        """By distinct source text: every text's pairs on one side, no test text in training."""
        for attr in ("texts", "subset", "lengths"):
            if not hasattr(ds, attr):
                raise DataError(f"dataset '{ctx.dataset}' has no .{attr}; the seq2seq task needs a dataset of "
                                f"(text, target) pairs such as 'pairs' or 'cmudict'")
        test_size = float(ctx.split.test_size)
        if not 0.0 < test_size < 1.0:
            raise ConfigError(f"--test-size must be between 0 and 1 (exclusive), got {test_size}")
        keep = list(range(len(ds)))
        dropped = 0
        if ctx.split.dedup:
            seen, keep = set(), []
            for i in range(len(ds)):
                key = (ds.texts[i], tuple(target_tokens(ds[i][1])))
                if key not in seen:
                    seen.add(key)
                    keep.append(i)
            dropped = len(ds) - len(keep)
        distinct = sorted({ds.texts[i] for i in keep})
        n_test = math.ceil(test_size * len(distinct))
        if n_test < 1 or n_test >= len(distinct):
            raise DataError(f"{getattr(ds, 'source', ctx.dataset)}: {len(distinct)} distinct source texts cannot "
                            f"be split with --test-size {test_size}; use more data")
        perm = np.random.RandomState(ctx.split.seed).permutation(len(distinct))
        test_texts = {distinct[j] for j in perm[:n_test]}
        train = [i for i in keep if ds.texts[i] not in test_texts]
        test = [i for i in keep if ds.texts[i] in test_texts]
        self.references = getattr(ds, "references", None) or None
        self._references_by_source = None
        report = {"train": len(train), "test": len(test), "by": "distinct source text",
                  "train_texts": len(distinct) - n_test, "test_texts": n_test, "dedup": bool(ctx.split.dedup),
                  "duplicates_dropped": dropped, "test_texts_seen_in_train": 0, "test_overlap_fraction": 0.0}
        return ds.subset(train), ds.subset(test), report

    def setup(self, train_dataset, ctx: TaskContext) -> None:
        self.vocab = TargetVocab.build(target_tokens(train_dataset[i][1]) for i in range(len(train_dataset)))
        first = train_dataset[0][1] if len(train_dataset) else ()
        self.joiner = getattr(train_dataset, "target_joiner", "" if isinstance(first, str) else " ")
        self.label_smoothing = float(ctx.label_smoothing)
        self.quiet = bool(ctx.quiet)

    def make_collator(self, ctx: TaskContext):
        return Seq2SeqCollator(ctx.make_collator(ctx.encoder), self.vocab)

    def state_dict(self) -> dict:
        return {"vocab": self.vocab.state_dict(), "joiner": self.joiner, "feed": self.feed,
                "decoder_hidden": self.decoder_hidden, "decoder_layers": self.decoder_layers}

    def load_state_dict(self, state: dict) -> None:
        if "vocab" not in state:
            raise KeyError("task_state.vocab")
        self.vocab = TargetVocab().load_state_dict(state["vocab"])
        self.joiner = state.get("joiner", " ")
        # the model's own architecture (runs before 0.2: no feeding, the decoder as wide as the
        # encoder's output and as deep as --layers)
        self.feed = state.get("feed", "none")
        self.decoder_hidden = state.get("decoder_hidden")
        self.decoder_layers = state.get("decoder_layers")

    # -- model ---------------------------------------------------------------------
    def build_model(self, ctx: TaskContext):
        self.encoder = encoder = ctx.encoder
        m, make_cell = ctx.model, ctx.make_cell
        enc_out = m.hidden_size * (2 if m.bidirectional else 1)
        dec_hidden = self.decoder_hidden or enc_out
        feed_cell = make_cell(dec_hidden + enc_out, hidden_size=dec_hidden, bidirectional=False, num_layers=1) \
            if self.feed == "layer" else None
        decoder_input = m.embedding_dim + (dec_hidden if self.feed == "input" else 0)
        decoder_layers = self.decoder_layers or m.layers
        return Seq2Seq(source_symbols=encoder.size, target_symbols=len(self.vocab),
                       encoder_cell=make_cell(m.embedding_dim),
                       decoder_cell=make_cell(decoder_input, hidden_size=dec_hidden, bidirectional=False,
                                              num_layers=decoder_layers),
                       embedding_dim=m.embedding_dim, encoder_hidden=m.hidden_size,
                       decoder_hidden=dec_hidden, bidirectional=m.bidirectional, decoder_layers=decoder_layers,
                       attention=self.attention, input_dropout=m.input_dropout,
                       output_dropout=m.head_dropout, source_pad=encoder.pad_index, feed=self.feed,
                       feed_cell=feed_cell)

    def loss(self, model, batch):
        logits = model(batch.inputs, batch.lengths, batch.targets, teacher_forcing=self.teacher_forcing)
        return masked_cross_entropy(logits, batch.targets, label_smoothing=self.label_smoothing)

    # -- evaluation ----------------------------------------------------------------
    def _text(self, indices: Sequence[int]) -> str:
        return self.joiner.join(self.vocab.decode(indices))

    def evaluate(self, model, batches, device, *, final: bool = True) -> dict[str, Any]:
        """Loss (teacher-forced, per real token) and PER/WER/exact match of the decoded test set.

        While training, epochs before the last decode greedily (cheap) and the last one
        (and ``seqkit eval``) with the configured beam, reporting the greedy figures beside
        it as ``greedy_per``, ``greedy_wer``, ``greedy_exact_match``."""
        beams = sorted({1, self.beam}) if final else [1]
        loss_sum, tokens, unknown = 0.0, 0, 0
        refs: dict[tuple, list[tuple[str, ...]]] = {}
        preds: dict[int, dict[tuple, tuple[str, ...]]] = {k: {} for k in beams}
        for batch in batches:
            logits = model(batch.inputs, batch.lengths, batch.targets)
            real = int((batch.targets != PAD).sum())
            loss_sum += float(masked_cross_entropy(logits, batch.targets)) * real
            tokens += real
            unknown += int((batch.targets == UNK).sum())
            sources = source_rows(batch)
            for src, tgt in zip(sources, batch.targets.cpu().tolist()):
                refs.setdefault(src, []).append(tuple(self.vocab.decode(tgt)))
            for k in beams:
                hyps = decode(model, batch, beam=k, max_len=self.max_len, length_penalty=self.length_penalty)
                for src, hyp in zip(sources, hyps):
                    preds[k][src] = tuple(self.vocab.decode(hyp[0][0]))
        best = preds[self.beam if final else 1]
        out = {"loss": loss_sum / max(1, tokens)}
        out.update(sequence_metrics((best[s], refs[s]) for s in best))
        out["decoder"] = "greedy" if self.beam == 1 or not final else f"beam {self.beam}"
        if len(beams) > 1:
            greedy = sequence_metrics((preds[1][s], refs[s]) for s in preds[1])
            out.update({f"greedy_{k}": greedy[k] for k in ("per", "wer", "exact_match")})
        extra = self._extra_references()
        if extra is not None:
            scored = [(best[s], refs[s] + [r for r in extra.get(s, ()) if r not in refs[s]]) for s in best]
            any_ref = sequence_metrics(scored)
            out.update({f"{k}_any": any_ref[k] for k in ("per", "wer", "exact_match")})
            out["sources_with_alternates"] = sum(len(set(r)) > 1 for _, r in scored)
        out["unknown_target_tokens"] = unknown
        self.errors = []
        for src, pred in best.items():
            edits, _ = best_reference(pred, refs[src])
            if edits:
                word = self.encoder.decode(src) if self.encoder is not None else str(src)
                self.errors.append((word, self.joiner.join(pred), " | ".join(self.joiner.join(r) for r in refs[src])))
        self.unknown_target_tokens = unknown
        return out

    def _extra_references(self) -> dict[tuple, list[tuple[str, ...]]] | None:
        """The dataset's references keyed by encoded source (None without them)."""
        if self.references is None or self.encoder is None:
            return None
        if self._references_by_source is None:
            by_source: dict[tuple, list[tuple[str, ...]]] = {}
            for text, variants in self.references.items():
                by_source.setdefault(tuple(self.encoder.encode(text)), []).extend(variants)
            self._references_by_source = by_source
        return self._references_by_source

    def epoch_record(self, metrics):
        return {k: metrics[k] for k in ("per", "wer", "exact_match", "wer_any") if k in metrics}

    def finalize(self, metrics, *, train_dataset, test_dataset):
        metrics["target_vocabulary"] = len(self.vocab) - 4
        metrics["error_examples"] = [{"source": w, "predicted": p, "reference": r}
                                     for w, p, r in self.errors[:max(self.show_errors, 20)]]
        if not self.quiet and self.show_errors > 0 and self.errors:
            print(f"errors ({len(self.errors)} of {metrics.get('sequences', 0)} test sources; "
                  f"first {min(self.show_errors, len(self.errors))}): source -> predicted (reference)",
                  file=sys.stderr)
            for w, p, r in self.errors[:self.show_errors]:
                print(f"  {w} -> {p}  ({r})", file=sys.stderr)
        return metrics

    def write_artifacts(self, out_dir, metrics, history):
        path = os.path.join(out_dir, "errors.tsv")
        with open(path, "w", encoding="utf-8") as f:
            f.write("source\tpredicted\treference\n")
            f.writelines("\t".join(row) + "\n" for row in self.errors)
        return [path]

    # -- export --------------------------------------------------------------------
    def export_graphs(self, model):
        """Two graphs: the ``encoder`` and one ``decoder`` step (:mod:`.export`)."""
        from seqkit.engine.export import ExportGraph, example_indices

        from .export import DecoderStepGraph, EncoderGraph

        encoder, decoder = EncoderGraph(model).eval(), DecoderStepGraph(model).eval()
        indices, lengths = example_indices(model.source_embedding.num_embeddings)
        with torch.no_grad():
            memory, keys, mask, state = encoder(indices, lengths)
        tokens = torch.full((indices.shape[0],), BOS, dtype=torch.long)
        batch, time = {0: "batch"}, {0: "batch", 1: "time"}
        return [
            ExportGraph(encoder, (indices, lengths), ["indices", "lengths"], ["memory", "keys", "mask", "state"],
                        {"indices": time, "lengths": batch}, part="encoder"),
            ExportGraph(decoder, (tokens, state, memory, keys, mask), ["tokens", "state", "memory", "keys", "mask"],
                        ["log_probs", "next_state"], {"tokens": batch, "state": {2: "batch"}, "memory": time,
                                                      "keys": time, "mask": time}, part="decoder"),
        ]

    def export_metadata(self) -> dict[str, Any]:
        return {"target_vocabulary": list(self.vocab.itos), "joiner": self.joiner,
                "special_tokens": {"pad": PAD, "bos": BOS, "eos": EOS, "unk": UNK},
                "decoding": "greedy: feed bos, take the argmax of log_probs, stop at eos or after "
                            "max_len = 2 * longest source + 10 steps (the task's max_len when set)",
                "max_len": self.max_len}

    # -- prediction ----------------------------------------------------------------
    def predict(self, model, batch, *, top_k: int, beam: int | None = None, **options):
        if options:
            raise ConfigError(f"task 'seq2seq' predict does not take {', '.join(sorted(options))}")
        k = self.beam if beam is None else int(beam)
        if k < 1:
            raise ConfigError(f"--beam must be at least 1 (1: greedy), got {k}")
        n_best = min(int(top_k), k) if k > 1 else 1
        hyps = decode(model, batch, beam=k, max_len=self.max_len, length_penalty=self.length_penalty,
                      n_best=n_best)
        return [[{"tokens": self.vocab.decode(s + [EOS]), "text": self._text(s + [EOS]),
                  "probability": math.exp(score)} for s, score in h] for h in hyps]

    def format_prediction(self, predictions) -> str:
        return " | ".join(f"{p['text']} ({p['probability']:.3f})" for p in predictions)
