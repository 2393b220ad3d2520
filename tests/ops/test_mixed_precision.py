"""Mixed precision (``--precision bf16``): bfloat16 products, float32 state and weights.

The fused GRU under ``torch.autocast("cpu", dtype=torch.bfloat16)`` runs its GEMMs on
bf16 operands and keeps gates, state, outputs and gradients in float32. Compared with
torch.nn.GRU in float32 (same weights) to bfloat16's precision, and shown to be the bf16
path (not silently float32) by differing from the float32 kernel.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_sequence

from conftest import cpp_available
from seqkit import ops
from seqkit.engine import RunConfig, train
from seqkit.errors import ConfigError
from seqkit.nn.fused_gru import FusedGRU

BF16 = dict(device_type="cpu", dtype=torch.bfloat16)


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).norm() / b.norm().clamp(min=1e-30))


def needs_cpp():
    if not cpp_available():
        pytest.skip("needs the compiled ops (seqkit._C)")


def batch(index: bool, size: int, g: torch.Generator):
    lengths = [9, 4, 7, 1, 9, 3, 6, 2, 5, 8]
    if index:
        seqs = [torch.randint(0, size, (n,), generator=g) for n in lengths]
        packed = pack_sequence(seqs, enforce_sorted=False)
        ref = PackedSequence(nn.functional.one_hot(packed.data, size).float(), packed.batch_sizes,
                             packed.sorted_indices, packed.unsorted_indices)
        return packed, ref
    seqs = [torch.randn(n, size, generator=g) for n in lengths]
    packed = pack_sequence(seqs, enforce_sorted=False)
    return packed, packed


@pytest.mark.parametrize("index", [False, True])
@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, True)])
def test_fused_gru_bf16_autocast_matches_float32_gru(index, layers, bidirectional):
    needs_cpp()
    g = torch.Generator().manual_seed(7 + layers + 10 * index)
    ref = nn.GRU(12, 48, num_layers=layers, bidirectional=bidirectional)
    fused = FusedGRU(12, 48, num_layers=layers, bidirectional=bidirectional)
    fused.load_state_dict(ref.state_dict())
    fused_in, ref_in = batch(index, 12, g)
    with torch.autocast(**BF16):
        out_f, h_f = fused(fused_in)
    out_r, h_r = ref(ref_in)
    assert out_f.data.dtype == torch.float32 and h_f.dtype == torch.float32
    # bfloat16 keeps 8 bits of mantissa: about 0.4% per product
    assert rel_err(out_f.data, out_r.data) < 2e-2 and rel_err(h_f, h_r) < 2e-2
    g_out, g_h = torch.randn_like(out_r.data), torch.randn_like(h_r)
    df = torch.autograd.grad((out_f.data * g_out).sum() + (h_f * g_h).sum(), list(fused.parameters()))
    dr = torch.autograd.grad((out_r.data * g_out).sum() + (h_r * g_h).sum(), list(ref.parameters()))
    for (name, p), a, b in zip(fused.named_parameters(), df, dr):
        assert a.dtype == p.dtype == torch.float32, name
        assert rel_err(a, b) < 3e-2, f"grad of {name}: relative error {rel_err(a, b):.3g}"
    # and it is the bf16 path: the float32 kernel agrees with nn.GRU to 1e-5, this one does not
    out32, _ = fused(fused_in)
    assert (out32.data - out_r.data).abs().max() < 1e-5
    assert (out_f.data - out_r.data).abs().max() > 1e-5


def test_bf16_kernel_matches_reference_path_under_autocast():
    # the pure-PyTorch fallback under autocast also multiplies in bf16: the two agree to
    # bf16 precision, and both stay float32 outside the products
    needs_cpp()
    g = torch.Generator().manual_seed(3)
    x = torch.randn(20, 8, generator=g)
    bs = torch.tensor([5, 5, 4, 3, 2, 1])
    h0 = torch.randn(5, 16, generator=g)
    w_ih, w_hh = torch.randn(48, 8, generator=g) * 0.3, torch.randn(48, 16, generator=g) * 0.3
    b_ih, b_hh = torch.randn(48, generator=g) * 0.1, torch.randn(48, generator=g) * 0.1
    with torch.autocast(**BF16):
        out_c, h_c = ops.gru_layer(x, bs, h0, w_ih, w_hh, b_ih, b_hh, reverse=True)
        out_r, h_r = ops.gru._gru_layer_reference(x, bs, h0, w_ih, w_hh, b_ih, b_hh, True)
    assert out_c.dtype == torch.float32
    assert rel_err(out_c, out_r.float()) < 2e-2 and rel_err(h_c, h_r.float()) < 2e-2


@pytest.mark.parametrize("index", [False, True])
def test_opcheck_mixed(index):
    needs_cpp()
    g = torch.Generator().manual_seed(1)
    bs = torch.tensor([3, 3, 2, 1])
    x = torch.randint(0, 6, (9,), generator=g) if index else torch.randn(9, 6, generator=g)
    w = lambda *s: (torch.randn(*s, generator=g) * 0.5).to(torch.bfloat16)  # noqa: E731
    args = (x, bs, torch.randn(3, 8, generator=g), w(24, 6), w(24, 8), torch.randn(24, generator=g),
            torch.randn(24, generator=g), False)
    torch.library.opcheck(torch.ops.seqkit.gru_forward.default, args,
                          test_utils=("test_schema", "test_faketensor", "test_aot_dispatch_dynamic"))
    out, h_n, gates, hprev = torch.ops.seqkit.gru_forward(*args)
    assert out.dtype == h_n.dtype == gates.dtype == hprev.dtype == torch.float32
    grads = torch.ops.seqkit.gru_backward(torch.randn_like(out), torch.randn_like(h_n), x, bs, args[2],
                                          args[3], args[4], gates, hprev, False, True, not index, True)
    # gradients in each input's own dtype: float32 input, h0 and biases, bf16 weights
    assert [t.dtype for t in grads if t.numel()] == \
        ([torch.float32] * (1 - index) + [torch.float32, torch.bfloat16, torch.bfloat16, torch.float32,
                                          torch.float32])


def test_mixed_dtype_errors_are_clear():
    needs_cpp()
    bs = torch.tensor([2, 1])
    x, h0 = torch.randn(3, 4), torch.randn(2, 5)
    w_ih, w_hh = torch.randn(15, 4).bfloat16(), torch.randn(15, 5).bfloat16()
    with pytest.raises(ValueError, match="h0 must be"):
        torch.ops.seqkit.gru_forward(x, bs, h0.bfloat16(), w_ih, w_hh, None, None, False)
    with pytest.raises(TypeError, match="biases must be Float"):
        torch.ops.seqkit.gru_forward(x, bs, h0, w_ih, w_hh, torch.zeros(15).bfloat16(), None, False)
    with pytest.raises(ValueError, match="weight_ih must be"):
        torch.ops.seqkit.gru_forward(x, bs, h0, w_ih.float(), w_hh, None, None, False)


def test_precision_is_validated():
    with pytest.raises(ConfigError, match="--precision must be one of fp32, bf16, auto"):
        RunConfig(precision="fp16").validate()


@pytest.mark.slow
def test_bf16_run_trains_as_well_as_fp32(names_subset, tmp_path):
    # the same run in float32 and in mixed precision: bf16 products change the numbers a
    # little, not what the model learns
    results = {}
    for precision in ("fp32", "bf16"):
        config = RunConfig(data=str(names_subset), cell="fused-gru", collator="fused-pack", epochs=3,
                           batch_size=64, hidden_size=64, precision=precision, quiet=True,
                           out=str(tmp_path / precision))
        results[precision] = train(config)
    assert results["bf16"]["config"]["precision"] == "bf16" and results["bf16"]["precision"] == "bf16"
    assert results["fp32"]["precision"] == "fp32"
    assert abs(results["bf16"]["top1"] - results["fp32"]["top1"]) < 0.03
    assert results["bf16"]["top1"] > 0.6


@pytest.mark.parametrize("index", [False, True])
def test_bf16_steps_split_across_two_threads(index):
    # 300 sequences at hidden 64: each step is split by rows between two threads, each
    # converting and multiplying its own rows; the result is the single-thread one
    needs_cpp()
    saved = torch.get_num_threads()
    g = torch.Generator().manual_seed(21)
    ref = nn.GRU(10, 64, bidirectional=True)
    fused = FusedGRU(10, 64, bidirectional=True)
    fused.load_state_dict(ref.state_dict())
    lengths = torch.randint(1, 7, (300,), generator=g).tolist()
    seqs = [torch.randint(0, 10, (n,), generator=g) for n in lengths] if index else \
        [torch.randn(n, 10, generator=g) for n in lengths]
    packed = pack_sequence(seqs, enforce_sorted=False)
    results = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            with torch.autocast(**BF16):
                out, h = fused(packed)
            grads = torch.autograd.grad(out.data.sum() + h.sum(), list(fused.parameters()))
            results.append((out.data, h, grads))
    finally:
        torch.set_num_threads(saved)
    (o1, h1, g1), (o2, h2, g2) = results
    # rows are independent: the split changes at most the GEMM kernel's and the sums' order
    assert rel_err(o1, o2) < 1e-4 and rel_err(h1, h2) < 1e-4
    for a, b in zip(g1, g2):
        assert rel_err(a, b) < 1e-4
    ref_in = PackedSequence(nn.functional.one_hot(packed.data, 10).float(), packed.batch_sizes,
                            packed.sorted_indices, packed.unsorted_indices) if index else packed
    out_r, h_r = ref(ref_in)
    assert rel_err(o2, out_r.data) < 2e-2 and rel_err(h2, h_r) < 2e-2
