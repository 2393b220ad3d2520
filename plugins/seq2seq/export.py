"""seq2seq's exported graphs: an encoder and one decoder step, on padded symbol indices.

- ``encoder``: ``(indices [B, S] int64, lengths [B] int64) -> (memory [B, S, De], keys
  [B, S, Hd], mask [B, S] bool, state [K, L, B, Hd])``: the encoder's outputs (zeros past
  each length), the attention keys (``memory`` itself for a model without attention), which
  source positions are real, and the decoder's initial state (``K`` is 2 for an LSTM
  decoder, (h, c), else 1).
- ``decoder``: ``(tokens [B] int64, state, memory, keys, mask) -> (log_probs [B, V], state)``:
  one step of the decoder from the previous token (``<s>`` = 1 first). With the attention
  fed to a second decoder layer (``--feed layer``) ``L`` counts that layer too (last).

Greedy decoding is a loop over the decoder step: feed ``<s>``, take the argmax, stop at
``</s>`` (2) or after ``2 * longest source + 10`` steps, as ``seqkit predict --beam 1`` does
(docs/export.md has the loop). The cells are the trained ones in their exportable form
(:mod:`seqkit.nn.padded`): a fused GRU exports as the ``torch.nn.GRU`` it equals.
"""
from __future__ import annotations

import copy
from typing import Tuple

import torch
from torch import nn

from seqkit.nn.padded import exportable_cell, plain_cell


def _frozen(module: nn.Module) -> nn.Module:
    return copy.deepcopy(module).eval()


class EncoderGraph(nn.Module):
    """The source side: embedding, the encoder cell masked by length, the bridge and the keys."""

    def __init__(self, model):
        super().__init__()
        self.embedding = _frozen(model.source_embedding)
        self.cell = exportable_cell(model.encoder)
        self.bridge = _frozen(model.bridge)
        self.keys = _frozen(model.keys) if model.attention else nn.Identity()
        self.layers, self.hidden = int(model.state_layers), int(model.decoder_hidden)
        self.lstm = bool(model.decoder_is_lstm)

    def forward(self, indices: torch.Tensor, lengths: torch.Tensor
                ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        memory, final = self.cell(self.embedding(indices), lengths)
        mask = torch.arange(memory.shape[1], device=memory.device).unsqueeze(0) < lengths.unsqueeze(1)
        h0 = torch.tanh(self.bridge(final)).view(-1, self.layers, self.hidden).transpose(0, 1).contiguous()
        state = torch.stack([h0, torch.zeros_like(h0)]) if self.lstm else h0.unsqueeze(0)
        return memory, self.keys(memory), mask, state


class _GRUStep(nn.Module):
    """One step of a GRU or RNN decoder cell: ``state`` [1, L, B, H]."""

    def __init__(self, cell: nn.RNNBase):
        super().__init__()
        self.cell = cell

    def forward(self, x: torch.Tensor, state: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        out, h = self.cell(x, state[0])
        return out, h.unsqueeze(0)


class _LSTMStep(nn.Module):
    """One step of an LSTM decoder cell: ``state`` [2, L, B, H] holds (h, c)."""

    def __init__(self, cell: nn.LSTM):
        super().__init__()
        self.cell = cell

    def forward(self, x: torch.Tensor, state: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        out, (h, c) = self.cell(x, (state[0], state[1]))
        return out, torch.stack([h, c])


class _NoStep(nn.Module):
    """Stands in for an absent cell (TorchScript compiles every branch)."""

    def forward(self, x: torch.Tensor, state: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return x, state


def _step_module(module: nn.Module) -> nn.Module:
    cell = plain_cell(module)
    return _LSTMStep(cell) if isinstance(cell, nn.LSTM) else _GRUStep(cell)


class DecoderStepGraph(nn.Module):
    """One decoder step: previous tokens and state -> log-probabilities of the next token."""

    def __init__(self, model):
        super().__init__()
        self.embedding = _frozen(model.target_embedding)
        self.step = _step_module(model.decoder)
        self.attention = bool(model.attention)
        self.combine = _frozen(model.combine) if model.attention else nn.Identity()
        self.feed = model.feed
        self.fed_step = _step_module(model.feed_cell) if model.feed == "layer" else _NoStep()
        self.layers = int(model.decoder_layers)
        self.out = _frozen(model.out)

    def forward(self, tokens: torch.Tensor, state: torch.Tensor, memory: torch.Tensor, keys: torch.Tensor,
                mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        x = self.embedding(tokens).unsqueeze(0)  # (1, B, E)
        first = state if self.feed == "none" else state[:, :self.layers]
        if self.feed == "input":  # the last attentional vector, kept in h's last row
            x = torch.cat([x, state[0, self.layers:]], dim=-1)
        out, first = self.step(x, first)
        dec = out.transpose(0, 1)  # (B, 1, Hd)
        if self.attention:
            scores = torch.bmm(dec, keys.transpose(1, 2)).masked_fill(~mask.unsqueeze(1), float("-inf"))
            context = torch.bmm(torch.softmax(scores, dim=-1), memory)
            if self.feed == "layer":
                out, fed = self.fed_step(torch.cat([dec, context], dim=-1).transpose(0, 1),
                                         state[:, self.layers:].contiguous())
                dec, first = out.transpose(0, 1), torch.cat([first, fed], dim=1)
            dec = torch.tanh(self.combine(torch.cat([context, dec], dim=-1)))
            if self.feed == "input":
                fed = state[:, self.layers:].clone()
                fed[0] = dec.transpose(0, 1)
                first = torch.cat([first, fed], dim=1)
        return torch.log_softmax(self.out(dec).squeeze(1).float(), dim=-1), first
