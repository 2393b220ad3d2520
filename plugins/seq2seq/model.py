"""Encoder-decoder models over registered cells: masked loss, Luong attention, greedy and beam decoding.

Data flow (one batch, every time step processed for the whole batch)::

    source indices (packed or padded) -> embedding -> encoder cell (any registered cell,
    uni- or bidirectional, run on the PackedSequence: it never sees padding)
    -> encoder outputs (B, S, De) + source mask, final state -> bridge -> decoder state
    -> decoder cell (any registered cell, unidirectional) stepped over the target
    -> [Luong attention over the encoder outputs, padded source positions masked]
    -> [feed="layer": a second decoder cell over (decoder output; attention context)]
    -> [feed="input": the attentional vector fed back into the next step's decoder input]
    -> output layer -> logits (B, T, V)

Attention feeding. With ``feed="none"`` (Luong's attention without input feeding) the
decoder's recurrence never sees the source after its initial state: attention only
shapes the readout, so nothing in the state records which letters were already spoken for.
With ``feed="layer"`` (the arrangement of GNMT's decoder) the first decoder layer's outputs
query the attention and a second recurrent layer runs over ``[output; context]``: its state
carries the history of the alignment, while training still runs each layer over the whole
target in one cell call. With ``feed="input"`` (Luong's input feeding) the decoder's input
at step t is ``[embedding of token t-1; attentional vector of step t-1]``, so the query of
the attention itself knows where it attended before; training then steps the decoder one
target position at a time (one cell call per step).

Targets are ``(B, T)`` int64 in the caller's order: the target tokens followed by
:data:`EOS` and padded with :data:`PAD`; the decoder input is :data:`BOS` followed by
the target tokens (teacher forcing). With teacher forcing ratio 1 the decoder runs over
the whole target in one cell call (attention without input feeding needs no step loop);
with a ratio below 1 it steps, feeding at each step the gold token with that probability
and otherwise its own previous prediction.

:func:`masked_cross_entropy` averages over the real target tokens only: padding adds
nothing to the sum and nothing to the count (the course's post divided the masked sum
by the number of sequences, so a batch's loss grew with its longest target).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from seqkit.data.batch import Batch
from seqkit.nn.packed import map_packed

from . import FEEDS

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")


@dataclass
class Seq2SeqBatch(Batch):
    """A :class:`Batch` whose ``targets`` are ``(B, T)`` token indices (+ EOS, PAD-padded).

    ``target_tokens`` counts the real target positions (EOS included); :attr:`tokens`
    counts source symbols plus target tokens, for the engine's tokens/s.
    """

    target_tokens: int = 0

    @property
    def tokens(self) -> int:
        return int(self.lengths.sum()) + int(self.target_tokens)


class TargetVocab:
    """Target tokens <-> indices: ``<pad>``, ``<s>``, ``</s>``, ``<unk>``, then the tokens (sorted)."""

    def __init__(self, tokens: Sequence[str] = ()):
        self.itos = list(SPECIALS) + sorted(set(tokens) - set(SPECIALS))
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    @classmethod
    def build(cls, sequences) -> TargetVocab:
        return cls({t for seq in sequences for t in seq})

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        return [self.stoi.get(t, UNK) for t in tokens] + [EOS]

    def decode(self, indices: Sequence[int]) -> list[str]:
        """Tokens up to the first EOS; specials dropped."""
        out = []
        for i in indices:
            i = int(i)
            if i == EOS:
                break
            if i >= len(SPECIALS) or i == UNK:
                out.append(self.itos[i])
        return out

    def state_dict(self) -> dict:
        return {"itos": list(self.itos)}

    def load_state_dict(self, state: dict) -> TargetVocab:
        self.itos = list(state["itos"])
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        return self


def target_tensor(sequences: Sequence[Sequence[int]]) -> torch.Tensor:
    """``(B, T)`` int64, each row the given indices padded with PAD to the longest."""
    width = max(len(s) for s in sequences)
    out = torch.full((len(sequences), width), PAD, dtype=torch.long)
    for i, s in enumerate(sequences):
        out[i, :len(s)] = torch.as_tensor(s, dtype=torch.long)
    return out


def masked_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, *, label_smoothing: float = 0.0
                         ) -> torch.Tensor:
    """Cross-entropy of ``logits (B, T, V)`` against ``targets (B, T)`` averaged over the
    positions where ``targets != PAD`` (the real tokens); 0 with no real token."""
    mask = targets != PAD
    n = mask.sum()
    losses = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1),
                             reduction="none", label_smoothing=label_smoothing)
    return (losses * mask.reshape(-1)).sum() / n.clamp(min=1)


def _first_state(state):
    """The ``h`` part of a cell state (LSTM-like cells return ``(h, c)``)."""
    return state[0] if isinstance(state, tuple) else state


def _select_state(state, index: torch.Tensor):
    """Rows ``index`` of the batch dimension (dim 1) of a cell state."""
    if isinstance(state, tuple):
        return tuple(s.index_select(1, index) for s in state)
    return state.index_select(1, index)


def _split_state(state, layers: int):
    """A decoder state of ``layers + 1`` layers -> (the first cell's ``layers``, the fed layer's one)."""
    if isinstance(state, tuple):
        return tuple(s[:layers] for s in state), tuple(s[layers:].contiguous() for s in state)
    return state[:layers], state[layers:].contiguous()


def _join_state(first, fed):
    """The inverse of :func:`_split_state`."""
    if isinstance(first, tuple):
        return tuple(torch.cat([a, b]) for a, b in zip(first, fed))
    return torch.cat([first, fed])




class Seq2Seq(nn.Module):
    """Encoder-decoder over registered cells; see the module docstring.

    - ``encoder_cell``: a cell over ``embedding_dim`` inputs, ``bidirectional`` or not,
      ``encoder_layers`` layers of ``encoder_hidden`` units per direction.
    - ``decoder_cell``: a unidirectional cell over ``embedding_dim`` inputs with
      ``decoder_layers`` layers of ``decoder_hidden`` units; LSTM-like ``(h, c)`` states work.
    - ``attention``: Luong's dot-product attention over the encoder outputs, scored
      against keys projected once per batch (Luong's "general" score), padded source
      positions masked; output ``tanh(W_c [context; h])``. Without it the decoder sees the
      source only through its initial state.
    - ``feed`` (with attention; module docstring): ``"layer"`` takes ``feed_cell``, a
      unidirectional one-layer cell over ``decoder_hidden + encoder outputs`` inputs with
      ``decoder_hidden`` units, run over ``[decoder output; context]``; its output replaces
      the decoder's in ``W_c [context; h]``. ``"input"`` needs a ``decoder_cell`` over
      ``embedding_dim + decoder_hidden`` inputs. Either way the decoder state has
      ``decoder_layers + 1`` layers, initialised by the bridge: the fed layer's state, or
      (``"input"``) the last attentional vector (in ``h``; an LSTM's ``c`` row is unused).
    """

    def __init__(self, *, source_symbols: int, target_symbols: int, encoder_cell: nn.Module,
                 decoder_cell: nn.Module, embedding_dim: int, encoder_hidden: int, decoder_hidden: int,
                 bidirectional: bool, decoder_layers: int = 1, attention: bool = True, input_dropout: float = 0.0,
                 output_dropout: float = 0.0, source_pad: int = 0, feed: str = "none",
                 feed_cell: nn.Module | None = None):
        super().__init__()
        if feed not in FEEDS:
            raise ValueError(f"feed must be one of {', '.join(FEEDS)}, got {feed!r}")
        if feed != "none" and not attention:
            raise ValueError(f"feed={feed!r} (attention feeding) needs attention")
        if (feed == "layer") != (feed_cell is not None):
            raise ValueError("feed='layer' takes a feed_cell, and only it does")
        self.source_embedding = nn.Embedding(source_symbols, embedding_dim, padding_idx=source_pad)
        self.target_embedding = nn.Embedding(target_symbols, embedding_dim, padding_idx=PAD)
        self.encoder, self.decoder = encoder_cell, decoder_cell
        self.bidirectional = bool(bidirectional)
        enc_out = encoder_hidden * (2 if bidirectional else 1)
        self.decoder_layers, self.decoder_hidden = int(decoder_layers), int(decoder_hidden)
        self.decoder_is_lstm = isinstance(decoder_cell, nn.LSTM)
        self.feed_cell, self.feed = feed_cell, feed
        self.state_layers = self.decoder_layers + (feed != "none")
        self.bridge = nn.Linear(enc_out, decoder_hidden * self.state_layers)
        self.attention = bool(attention)
        if self.attention:
            self.keys = nn.Linear(enc_out, decoder_hidden, bias=False)
            self.combine = nn.Linear(enc_out + decoder_hidden, decoder_hidden)
        self.input_dropout = nn.Dropout(input_dropout)  # on the source and target embeddings
        self.output_dropout = nn.Dropout(output_dropout)  # before the output layer
        self.out = nn.Linear(decoder_hidden, target_symbols)
        self.target_symbols = int(target_symbols)

    # -- encoder ---------------------------------------------------------------------
    def encode(self, inputs: PackedSequence | torch.Tensor, lengths: torch.Tensor):
        """``(memory (B, S, De), keys (B, S, Hd) | None, mask (B, S) bool, decoder state)``."""
        if isinstance(inputs, PackedSequence):
            packed = map_packed(lambda x: self.input_dropout(self.source_embedding(x)), inputs)
        else:  # padded (T, B): pack it, so the encoder (both directions) never sees padding
            packed = pack_padded_sequence(self.input_dropout(self.source_embedding(inputs)), lengths.cpu(),
                                          enforce_sorted=False)
        output, h_n = self.encoder(packed)
        memory, _ = pad_packed_sequence(output, batch_first=True)  # caller's order
        steps = memory.shape[1]
        mask = torch.arange(steps, device=memory.device).unsqueeze(0) < lengths.to(memory.device).unsqueeze(1)
        h = _first_state(h_n)
        d = 2 if self.bidirectional else 1
        final = h[-d:].transpose(0, 1).reshape(h.shape[1], -1)  # last layer, both directions
        h0 = torch.tanh(self.bridge(final)).view(-1, self.state_layers, self.decoder_hidden).transpose(0, 1)
        h0 = h0.contiguous()
        state = (h0, torch.zeros_like(h0)) if self.decoder_is_lstm else h0
        keys = self.keys(memory) if self.attention else None
        return memory, keys, mask, state

    # -- decoder ---------------------------------------------------------------------
    def _attend(self, query: torch.Tensor, memory, keys, mask) -> torch.Tensor:
        """Context ``(B, T, De)`` for queries ``(B, T, Hd)``: softmax over the real source positions."""
        scores = torch.bmm(query, keys.transpose(1, 2))  # (B, T, S)
        scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
        return torch.bmm(torch.softmax(scores, dim=-1), memory)

    def _attentional(self, context: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Luong's attentional vector ``tanh(W_c [context; h])``."""
        return torch.tanh(self.combine(torch.cat([context, h], dim=-1)))

    def _decode(self, x: torch.Tensor, state, memory, keys, mask):
        """The decoder over inputs ``x (T, B, E)`` from ``state``: ``(logits (B, T, V), state)``."""
        if self.feed == "none":
            out, state = self.decoder(x, state)
            dec = out.transpose(0, 1)
            if self.attention:
                context = self._attend(dec, memory, keys, mask)
                dec = self._attentional(context, dec)
            return self.out(self.output_dropout(dec)), state
        if self.feed == "input":
            return self._decode_input_fed(x, state, memory, keys, mask)
        first, fed = _split_state(state, self.decoder_layers)
        out, first = self.decoder(x, first)
        query = out.transpose(0, 1)
        context = self._attend(query, memory, keys, mask)
        out, fed = self.feed_cell(torch.cat([query, context], dim=-1).transpose(0, 1), fed)
        dec = self._attentional(context, out.transpose(0, 1))
        return self.out(self.output_dropout(dec)), _join_state(first, fed)

    def _decode_input_fed(self, x: torch.Tensor, state, memory, keys, mask):
        """``feed="input"``: one cell call per target position, each fed the previous
        step's attentional vector (carried in the last layer of ``state``)."""
        first, prev = _split_state(state, self.decoder_layers)
        fed = prev[0][0] if isinstance(prev, tuple) else prev[0]  # (B, Hd)
        outputs = []
        for t in range(x.shape[0]):
            out, first = self.decoder(torch.cat([x[t], fed.to(x.dtype)], dim=-1).unsqueeze(0), first)
            query = out.transpose(0, 1)  # (B, 1, Hd)
            context = self._attend(query, memory, keys, mask)
            attentional = self._attentional(context, query)
            outputs.append(attentional)
            fed = attentional.squeeze(1)
        dec = torch.cat(outputs, dim=1)
        last = fed.unsqueeze(0).to(_first_state(prev).dtype)
        prev = (last, prev[1]) if isinstance(prev, tuple) else last
        return self.out(self.output_dropout(dec)), _join_state(first, prev)

    def _step(self, tokens: torch.Tensor, state, memory, keys, mask):
        """One decoder step for ``tokens (B,)``: ``(logits (B, V), state)``."""
        x = self.input_dropout(self.target_embedding(tokens)).unsqueeze(0)  # (1, B, E)
        logits, state = self._decode(x, state, memory, keys, mask)
        return logits.squeeze(1), state

    def forward(self, inputs, lengths: torch.Tensor, targets: torch.Tensor, *, teacher_forcing: float = 1.0,
                generator: torch.Generator | None = None, stepwise: bool = False) -> torch.Tensor:
        """Logits ``(B, T, V)`` for ``targets (B, T)``; see the module docstring for teacher forcing.
        ``stepwise=True`` steps the decoder even with full teacher forcing (same result, slower)."""
        memory, keys, mask, state = self.encode(inputs, lengths)
        bos = torch.full((targets.shape[0], 1), BOS, dtype=targets.dtype, device=targets.device)
        gold_inputs = torch.cat([bos, targets[:, :-1]], dim=1)  # (B, T)
        if teacher_forcing >= 1.0 and not stepwise:
            x = self.input_dropout(self.target_embedding(gold_inputs)).transpose(0, 1)  # (T, B, E)
            return self._decode(x, state, memory, keys, mask)[0]
        logits = []
        tokens = gold_inputs[:, 0]
        pad = torch.tensor([PAD], device=targets.device)
        for t in range(targets.shape[1]):
            step_logits, state = self._step(tokens, state, memory, keys, mask)
            logits.append(step_logits)
            if t + 1 < targets.shape[1]:
                predicted = step_logits.detach().index_fill(1, pad, float("-inf")).argmax(-1)  # as greedy does
                if teacher_forcing >= 1.0:
                    tokens = gold_inputs[:, t + 1]
                elif teacher_forcing <= 0.0:
                    tokens = predicted
                else:
                    coin = torch.rand(targets.shape[0], device=targets.device, generator=generator)
                    tokens = torch.where(coin < teacher_forcing, gold_inputs[:, t + 1], predicted)
        return torch.stack(logits, dim=1)

    # -- decoding --------------------------------------------------------------------
    @staticmethod
    def max_steps(lengths: torch.Tensor, max_len: int | None = None) -> int:
        return int(max_len) if max_len else int(lengths.max()) * 2 + 10

    @torch.no_grad()
    def greedy(self, inputs, lengths: torch.Tensor, *, max_len: int | None = None
               ) -> tuple[list[list[int]], torch.Tensor]:
        """Argmax decoding: per sequence the token indices up to (without) EOS, and the
        per-step logits ``(B, steps, V)``."""
        memory, keys, mask, state = self.encode(inputs, lengths)
        batch = memory.shape[0]
        tokens = torch.full((batch,), BOS, dtype=torch.long, device=memory.device)
        done = torch.zeros(batch, dtype=torch.bool, device=memory.device)
        pad = torch.tensor([PAD], device=memory.device)
        steps, logits = [], []
        for _ in range(self.max_steps(lengths, max_len)):
            step_logits, state = self._step(tokens, state, memory, keys, mask)
            tokens = step_logits.index_fill(1, pad, float("-inf")).argmax(-1)  # PAD is never a token (as in beam)
            steps.append(tokens)
            logits.append(step_logits)
            done |= tokens == EOS
            if bool(done.all()):
                break
        seqs = torch.stack(steps, 1).tolist()
        return [s[:s.index(EOS)] if EOS in s else s for s in seqs], torch.stack(logits, 1)

    @torch.no_grad()
    def beam(self, inputs, lengths: torch.Tensor, *, beam: int, max_len: int | None = None,
             length_penalty: float = 0.0, n_best: int = 1) -> list[list[tuple[list[int], float]]]:
        """Beam search with ``beam`` hypotheses per sequence, batched (B * beam rows per step).

        Returns per sequence the ``n_best`` hypotheses ``(token indices without EOS,
        log-probability)``, best first, ranked by ``logp / len ** length_penalty`` (len counts
        EOS; 0: plain log-probability). ``beam=1`` is greedy decoding exactly.
        """
        k = int(beam)
        memory, keys, mask, state = self.encode(inputs, lengths)
        batch, device = memory.shape[0], memory.device
        rows = torch.arange(batch, device=device).repeat_interleave(k)
        memory, mask = memory.index_select(0, rows), mask.index_select(0, rows)
        keys = keys.index_select(0, rows) if keys is not None else None
        state = _select_state(state, rows)
        scores = torch.full((batch, k), float("-inf"), device=device)
        scores[:, 0] = 0.0  # at first only one live hypothesis per sequence
        tokens = torch.full((batch * k,), BOS, dtype=torch.long, device=device)
        finished = torch.zeros(batch * k, dtype=torch.bool, device=device)
        lengths_out = torch.zeros(batch * k, dtype=torch.long, device=device)
        history = torch.zeros(batch * k, 0, dtype=torch.long, device=device)
        vocab = self.target_symbols
        for _ in range(self.max_steps(lengths, max_len)):
            step_logits, state = self._step(tokens, state, memory, keys, mask)
            logp = torch.log_softmax(step_logits.float(), dim=-1)
            # a finished hypothesis continues with PAD at no cost, and with nothing else
            logp = torch.where(finished.unsqueeze(1), torch.full_like(logp, float("-inf")), logp)
            logp[:, PAD] = torch.where(finished, 0.0, float("-inf"))
            total = (scores.view(-1, 1) + logp).view(batch, k * vocab)
            scores, flat = total.topk(k, dim=-1)  # (B, k)
            origin = (flat // vocab) + torch.arange(batch, device=device).unsqueeze(1) * k
            origin, tokens = origin.view(-1), (flat % vocab).view(-1)
            state = _select_state(state, origin)
            history = torch.cat([history.index_select(0, origin), tokens.unsqueeze(1)], dim=1)
            was_finished = finished.index_select(0, origin)
            lengths_out = lengths_out.index_select(0, origin) + (~was_finished).long()
            finished = was_finished | (tokens == EOS)
            if bool(finished.all()):
                break
        ranked = scores.view(-1) / lengths_out.clamp(min=1).float() ** length_penalty \
            if length_penalty else scores.view(-1)
        out = []
        hist = history.tolist()
        for b in range(batch):
            cand = sorted(range(b * k, (b + 1) * k), key=lambda r: (-float(ranked[r]), r))
            hyps = []
            for r in cand[:max(1, n_best)]:
                s = hist[r]
                s = s[:s.index(EOS)] if EOS in s else [t for t in s if t != PAD]
                hyps.append((s, float(scores.view(-1)[r])))
            out.append(hyps)
        return out


def decode(model: Seq2Seq, batch: Batch, *, beam: int = 1, max_len: int | None = None,
           length_penalty: float = 0.0, n_best: int = 1) -> list[list[tuple[list[int], float]]]:
    """Greedy (``beam=1``) or beam decoding of a batch: per sequence ``[(indices, logp), ...]``."""
    if beam <= 1 and n_best <= 1:
        seqs, logits = model.greedy(batch.inputs, batch.lengths, max_len=max_len)
        logp = torch.log_softmax(logits.float(), -1)
        out = []
        for i, s in enumerate(seqs):
            idx = s + [EOS] if len(s) < logits.shape[1] else s
            score = float(logp[i, torch.arange(len(idx)), torch.as_tensor(idx, dtype=torch.long)].sum())
            out.append([(s, score)])
        return out
    return model.beam(batch.inputs, batch.lengths, beam=max(beam, n_best), max_len=max_len,
                      length_penalty=length_penalty, n_best=n_best)

