"""``FusedGRU``: a drop-in ``torch.nn.GRU`` whose layers run seqkit's fused kernels.

It subclasses ``torch.nn.GRU``, so the constructor, the parameters (``weight_ih_l{k}``,
``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}``, ``*_reverse``; gate order r, z, n),
their initialisation (same RNG draws: a seeded ``FusedGRU`` equals a seeded ``nn.GRU``)
and the state_dict are nn.GRU's own; ``load_state_dict`` works both ways with no
conversion. Only ``forward`` differs: each layer is one call of :func:`seqkit.ops.gru_layer`
per direction, or of :func:`seqkit.ops.gru_layer_bidir` for both directions of a
bidirectional layer (C++ forward and backward, or the reference fallback).

Input may also be integer symbol indices (a PackedSequence whose ``data`` is ``[N]`` int,
or a padded ``(T, B)`` / ``(B, T)`` int tensor): ``input_size`` is then the number of
symbols and the first layer's input projection is a gather of ``weight_ih_l0`` columns
(its gradient a scatter-add), equal to feeding one-hot rows.

A learned embedding folds into the first layer: ``forward(indices, embedding=E)`` with
``E`` a ``[num_symbols, input_size]`` table equals ``forward(E[indices])`` (nn.GRU on the
embedded rows), but the first layer's input projection becomes the gather of a
``[3H, num_symbols]`` table ``W_ih @ E^T`` made once per call: no ``[N, input_size]`` rows
and no ``[N, input_size] x [input_size, 3H]`` product forward or backward. Gradients reach
``E`` (and ``W_ih``) through that product.
"""
from __future__ import annotations

from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from .. import ops

__all__ = ["FusedGRU"]


class FusedGRU(nn.GRU):
    """``torch.nn.GRU`` with fused CPU kernels; see the module docstring.

    ``forward(input, hx=None) -> (output, h_n)`` exactly as ``nn.GRU``: ``input`` is a
    ``PackedSequence`` (output is a PackedSequence, ``h_n`` in the caller's order) or a
    ``(T, B, *)`` tensor (``(B, T, *)`` with ``batch_first=True``, ``(T, *)`` unbatched),
    where ``*`` is ``input_size`` for float rows and nothing for symbol indices.
    """

    def forward(self, input: Union[Tensor, PackedSequence], hx: Optional[Tensor] = None, *,
                embedding: Optional[Tensor] = None) -> Tuple[Union[Tensor, PackedSequence], Tensor]:
        if embedding is not None:
            self._check_embedding(input.data if isinstance(input, PackedSequence) else input, embedding)
        if isinstance(input, PackedSequence):
            data, batch_sizes, sorted_indices, unsorted_indices = input
            # the number of sequences, from a shape where there is one (no tensor read)
            batch = sorted_indices.shape[0] if sorted_indices is not None else int(batch_sizes[0])
            if hx is not None and sorted_indices is not None:
                hx = hx.index_select(1, sorted_indices)
            out, h_n = self._run(data, batch_sizes, hx, batch, embedding)
            if unsorted_indices is not None:
                h_n = h_n.index_select(1, unsorted_indices)
            return PackedSequence(out, batch_sizes, sorted_indices, unsorted_indices), h_n

        index = not input.is_floating_point()
        batched = input.dim() == (2 if index else 3)
        if input.dim() != (2 if index else 3) and input.dim() != (1 if index else 2):
            raise ValueError(f"FusedGRU: expected {'(T, B) or (T,) symbol indices' if index else '(T, B, input_size) or (T, input_size)'}"
                             f" input, got shape {tuple(input.shape)}")
        if not batched:
            input = input.unsqueeze(1)
            if hx is not None:
                if hx.dim() != 2:
                    raise ValueError(f"FusedGRU: unbatched input needs a 2-D hx, got {tuple(hx.shape)}")
                hx = hx.unsqueeze(1)
        elif self.batch_first:
            input = input.transpose(0, 1)
        steps, batch = input.shape[0], input.shape[1]
        # a padded batch of full-length sequences is, flattened time-major, already packed
        data = input.reshape(steps * batch, *input.shape[2:])
        batch_sizes = torch.full((steps,), batch, dtype=torch.int64)
        out, h_n = self._run(data, batch_sizes, hx, batch, embedding)
        out = out.view(steps, batch, -1)
        if not batched:
            return out.squeeze(1), h_n.squeeze(1)
        if self.batch_first:
            out = out.transpose(0, 1)
        return out, h_n

    def _check_embedding(self, data: Tensor, embedding: Tensor) -> None:
        if data.is_floating_point():
            raise ValueError("FusedGRU: embedding= needs symbol indices as input, got float rows")
        if embedding.dim() != 2 or embedding.shape[1] != self.input_size:
            raise ValueError(f"FusedGRU: embedding must be [num_symbols, input_size={self.input_size}], "
                             f"got {tuple(embedding.shape)}")

    def _layer_weights(self, layer: int, d: int, embedding: Optional[Tensor]):
        """(w_ih, w_hh, b_ih, b_hh) of a layer and direction; with an embedding, the first
        layer's w_ih is W_ih @ E^T (the gather table of the folded embedding)."""
        # nn.RNNBase keeps _flat_weights in step with the parameters (reassigned ones too):
        # per layer and direction w_ih, w_hh and, with bias, b_ih, b_hh
        per = 4 if self.bias else 2
        k = layer * (2 if self.bidirectional else 1) + d
        w = self._flat_weights[k * per:(k + 1) * per]
        w_ih = w[0] if embedding is None or layer else w[0] @ embedding.t().to(w[0].dtype)
        return (w_ih, w[1], w[2] if self.bias else None, w[3] if self.bias else None)

    def _run(self, data: Tensor, batch_sizes: Tensor, hx: Optional[Tensor], batch: int,
             embedding: Optional[Tensor] = None):
        dirs = 2 if self.bidirectional else 1
        if hx is not None and tuple(hx.shape) != (self.num_layers * dirs, batch, self.hidden_size):
            raise ValueError(f"FusedGRU: hx must be {(self.num_layers * dirs, batch, self.hidden_size)}"
                             f" (num_layers * num_directions, batch, hidden_size), got {tuple(hx.shape)}")
        if data.is_floating_point():
            if data.shape[-1] != self.input_size:
                raise ValueError(f"FusedGRU: input rows have {data.shape[-1]} features, expected "
                                 f"input_size={self.input_size}")
        layer_input = data
        finals = []
        w_hh0 = self._flat_weights[1]
        for layer in range(self.num_layers):
            emb = embedding if layer == 0 else None
            # no hx: each layer and direction starts from its own zeros (one op, no slicing)
            h0 = [hx[layer * dirs + d] if hx is not None else
                  torch.zeros(batch, self.hidden_size, dtype=w_hh0.dtype, device=w_hh0.device) for d in range(dirs)]
            if dirs == 2:  # both directions in one call; the embedding is folded in there
                out, out_r, h, h_r = ops.gru_layer_bidir(layer_input, batch_sizes, h0[0], h0[1],
                                                         self._layer_weights(layer, 0, None),
                                                         self._layer_weights(layer, 1, None), embedding=emb)
                layer_input = torch.cat((out, out_r), 1)
                finals += [h, h_r]
            else:
                layer_input, h = ops.gru_layer(layer_input, batch_sizes, h0[0], *self._layer_weights(layer, 0, emb))
                finals.append(h)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
        return layer_input, finals[0].unsqueeze(0) if len(finals) == 1 else torch.stack(finals, 0)
