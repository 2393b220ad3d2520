"""seqkit.nn.padded: a trained cell on a padded batch masked by length equals the cell on
the PackedSequence (outputs at the valid steps, final states), in every form it exports in."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_sequence, pad_packed_sequence, pad_sequence

from seqkit.nn.fused_gru import FusedGRU
from seqkit.nn.packed import last_states
from seqkit.nn.padded import NotExportable, exportable_cell, plain_cell, reverse_within_lengths

CELLS = [(nn.GRU, {}), (nn.LSTM, {}), (nn.RNN, {"nonlinearity": "relu"}), (nn.GRU, {"bias": False}), (FusedGRU, {})]


def _batch(lengths, size=6, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(n, size, generator=gen) for n in lengths]


@pytest.mark.parametrize("cls, kw", CELLS, ids=lambda v: getattr(v, "__name__", str(v)))
@pytest.mark.parametrize("layers, bidirectional", [(1, False), (2, True), (3, True)])
@pytest.mark.parametrize("scan", [False, True])
def test_padded_and_masked_equals_packed(cls, kw, layers, bidirectional, scan):
    torch.manual_seed(0)
    cell = cls(6, 5, num_layers=layers, bidirectional=bidirectional, **kw).eval()
    lengths = torch.tensor([7, 3, 5, 1, 7])
    seqs = _batch(lengths.tolist())
    runner = exportable_cell(cell)
    if scan:
        runner.to_scan()
    with torch.no_grad():
        packed = pack_sequence(seqs, enforce_sorted=False)
        want_last = last_states(cell, packed, lengths, bidirectional=bidirectional)
        want_out, _ = pad_packed_sequence(cell(packed)[0], batch_first=True)
        out, last = runner(pad_sequence(seqs, batch_first=True, padding_value=9.0), lengths)
    assert torch.allclose(last, want_last, atol=1e-6)
    assert torch.allclose(out, want_out, atol=1e-6)  # zeros past each length, as unpacking gives


def test_the_torch_modules_script_and_the_scan_exports_with_dynamic_steps():
    torch.manual_seed(0)
    cell = nn.GRU(6, 5, num_layers=2, bidirectional=True).eval()
    runner = exportable_cell(cell).eval().requires_grad_(False)
    scripted = torch.jit.script(runner)
    lengths = torch.tensor([9, 2, 11, 4])
    x = pad_sequence(_batch(lengths.tolist(), seed=3), batch_first=True)
    ref = runner(x, lengths)[1]
    assert torch.equal(scripted(x, lengths)[1], ref)
    runner.to_scan().requires_grad_(False)
    example = pad_sequence(_batch([7, 2, 5]), batch_first=True)
    batch, steps = torch.export.Dim("batch"), torch.export.Dim("steps")
    program = torch.export.export(runner, (example, torch.tensor([7, 2, 5])),
                                  dynamic_shapes={"x": {0: batch, 1: steps}, "lengths": {0: batch}})
    assert torch.allclose(program.module()(x, lengths)[1], ref, atol=1e-6)


def test_reverse_within_lengths_is_an_involution_keeping_the_padding_in_place():
    idx = reverse_within_lengths(torch.tensor([3, 1, 4]), 4)
    assert idx.tolist() == [[2, 1, 0, 3], [0, 1, 2, 3], [3, 2, 1, 0]]
    assert torch.equal(idx.gather(1, idx), torch.arange(4).expand(3, 4))


def test_a_fused_gru_becomes_the_torch_gru_it_equals():
    torch.manual_seed(0)
    fused = FusedGRU(4, 3, bidirectional=True)
    plain = plain_cell(fused)
    assert type(plain) is nn.GRU and all(torch.equal(a, b) for a, b in zip(plain.parameters(), fused.parameters()))


def test_other_cells_must_say_how_they_export():
    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(4, 3)

    with pytest.raises(NotExportable, match="Wrapped, not a torch.nn.GRU, LSTM or RNN, and has no exportable"):
        exportable_cell(Wrapped())
    Wrapped.exportable = lambda self: self.rnn
    assert exportable_cell(Wrapped()).kind == "LSTM"
