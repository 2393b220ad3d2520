"""FusedGRU / seqkit.ops.gru_layer against torch.nn.GRU with the same weights.

Runs on both backends (the C++ kernels and the pure-PyTorch reference); gradcheck and
opcheck exercise the compiled ops directly.
"""
from __future__ import annotations

import contextlib

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_sequence

from conftest import cpp_available  # noqa: F401  (the backend fixture lives there too)
from seqkit import ops
from seqkit.nn.fused_gru import FusedGRU

ATOL = 1e-5


@pytest.fixture(autouse=True)
def _seeded():
    """The same weights in every run: torch seeds its global generator at random on start."""
    torch.manual_seed(0)




@contextlib.contextmanager
def num_threads(n):
    """torch's intra-op threads set to n inside the block (the row blocks follow them)."""
    saved = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def pair(input_size, hidden, **kw):
    ref = nn.GRU(input_size, hidden, **kw)
    fused = FusedGRU(input_size, hidden, **kw)
    fused.load_state_dict(ref.state_dict())
    return ref, fused


def packed_batch(lengths, input_size, index, generator):
    if index:
        seqs = [torch.randint(0, input_size, (n,), generator=generator) for n in lengths]
    else:
        seqs = [torch.randn(n, input_size, generator=generator, requires_grad=True) for n in lengths]
    return seqs, pack_sequence(seqs, enforce_sorted=False)


def one_hot_packed(p, size):
    return PackedSequence(nn.functional.one_hot(p.data, size).float(), p.batch_sizes,
                          p.sorted_indices, p.unsorted_indices)


def assert_close(a, b, what):
    err = (a - b).abs().max().item() if a.numel() else 0.0
    assert err <= ATOL, f"{what}: max abs error {err:.3g} > {ATOL}"


def compare(ref, fused, ref_in, fused_in, h0=None, grad_scale=1.0):
    """Outputs and gradients of nn.GRU and FusedGRU within ATOL. grad_scale scales the
    random upstream gradients: 1 / batch for a batch of hundreds of sequences, whose
    summed gradients would otherwise reach about 90, where float32's own rounding (nn.GRU
    against float64: up to 1.3e-5) is above ATOL."""
    out_r, h_r = ref(ref_in, h0)
    out_f, h_f = fused(fused_in, h0)
    data_r = out_r.data if isinstance(out_r, PackedSequence) else out_r
    data_f = out_f.data if isinstance(out_f, PackedSequence) else out_f
    assert data_f.shape == data_r.shape and h_f.shape == h_r.shape
    assert_close(data_f, data_r, "output")
    assert_close(h_f, h_r, "h_n")
    if isinstance(out_r, PackedSequence):
        for a, b in zip(out_f[1:], out_r[1:]):
            assert a is None and b is None or torch.equal(a, b)
    g_out = torch.randn_like(data_r) * grad_scale
    g_h = torch.randn_like(h_r) * grad_scale
    grads = [p for p in ref.parameters()]
    grads_f = [p for p in fused.parameters()]
    extra_r, extra_f = [], []
    if h0 is not None:
        extra_r.append(h0)
        extra_f.append(h0)
    dr = torch.autograd.grad((data_r * g_out).sum() + (h_r * g_h).sum(), grads + extra_r)
    df = torch.autograd.grad((data_f * g_out).sum() + (h_f * g_h).sum(), grads_f + extra_f)
    names = [n for n, _ in ref.named_parameters()] + ["h0"] * len(extra_r)
    for name, a, b in zip(names, df, dr):
        assert_close(a, b, f"grad of {name}")


@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, False), (1, True), (3, True)])
@pytest.mark.parametrize("with_h0", [False, True])
@pytest.mark.parametrize("index", [False, True])
def test_packed_matches_nn_gru(backend, layers, bidirectional, with_h0, index):
    g = torch.Generator().manual_seed(layers * 10 + bidirectional * 2 + with_h0 + 100 * index)
    inp, hid = 11, 16
    ref, fused = pair(inp, hid, num_layers=layers, bidirectional=bidirectional)
    lengths = [5, 1, 7, 3, 7, 2, 4, 1, 6]
    seqs, packed = packed_batch(lengths, inp, index, g)
    h0 = None
    if with_h0:
        h0 = torch.randn(layers * (2 if bidirectional else 1), len(lengths), hid, generator=g,
                         requires_grad=True)
    ref_in = one_hot_packed(packed, inp) if index else packed
    compare(ref, fused, ref_in, packed, h0)


def test_dense_input_gradient(backend):
    g = torch.Generator().manual_seed(0)
    ref, fused = pair(6, 8, num_layers=2, bidirectional=True)
    x = torch.randn(13, 6, generator=g, requires_grad=True)
    packed = PackedSequence(x, torch.tensor([4, 3, 3, 2, 1]), None, None)
    (gr,) = torch.autograd.grad(ref(packed)[0].data.square().sum(), x)
    (gf,) = torch.autograd.grad(fused(packed)[0].data.square().sum(), x)
    assert_close(gf, gr, "grad of input")


@pytest.mark.parametrize("batch_first", [False, True])
def test_padded_input(backend, batch_first):
    g = torch.Generator().manual_seed(1)
    ref, fused = pair(5, 7, num_layers=2, bidirectional=True, batch_first=batch_first)
    x = torch.randn(4, 6, 5, generator=g)
    h0 = torch.randn(4, 4 if batch_first else 6, 7, generator=g, requires_grad=True)
    compare(ref, fused, x, x, h0)
    compare(ref, fused, x, x, None)
    # unbatched (T, I)
    compare(ref, fused, x[0], x[0], None)


def test_padded_index_input_is_one_hot(backend):
    g = torch.Generator().manual_seed(2)
    ref, fused = pair(9, 6, batch_first=True)
    idx = torch.randint(0, 9, (3, 5), generator=g)
    compare(ref, fused, nn.functional.one_hot(idx, 9).float(), idx)


def test_no_bias(backend):
    g = torch.Generator().manual_seed(3)
    ref, fused = pair(4, 5, bias=False, bidirectional=True)
    _, packed = packed_batch([3, 2, 2], 4, False, g)
    compare(ref, fused, packed, packed)


def test_float64(backend):
    g = torch.Generator().manual_seed(4)
    ref, fused = pair(4, 5, num_layers=2)
    ref.double()
    fused.double()
    x = torch.randn(6, 3, 4, generator=g, dtype=torch.float64)
    compare(ref, fused, x, x)


def test_state_dict_and_init_are_nn_gru():
    torch.manual_seed(0)
    ref = nn.GRU(7, 9, num_layers=2, bidirectional=True)
    torch.manual_seed(0)
    fused = FusedGRU(7, 9, num_layers=2, bidirectional=True)
    sd_r, sd_f = ref.state_dict(), fused.state_dict()
    assert list(sd_r) == list(sd_f)
    for k in sd_r:
        assert torch.equal(sd_r[k], sd_f[k]), k
    assert "weight_ih_l1_reverse" in sd_f and sd_f["weight_hh_l0"].shape == (27, 9)
    ref2 = nn.GRU(7, 9, num_layers=2, bidirectional=True)
    ref2.load_state_dict(fused.state_dict())


def test_dropout_between_layers(backend):
    ref, fused = pair(4, 6, num_layers=3, dropout=0.5)
    x = torch.randn(5, 3, 4)
    ref.train()
    fused.train()
    # the same RNG stream: nn.GRU drops the same elements of the same layer outputs
    torch.manual_seed(5)
    out_r, h_r = ref(x)
    torch.manual_seed(5)
    out_f, h_f = fused(x)
    assert_close(out_f, out_r, "output with dropout")
    assert_close(h_f, h_r, "h_n with dropout")
    fused.eval()
    ref.eval()
    assert_close(fused(x)[0], ref(x)[0], "output in eval")


def test_hx_shape_error(backend):
    fused = FusedGRU(3, 4, num_layers=2)
    with pytest.raises(ValueError, match="hx must be"):
        fused(torch.randn(2, 5, 3), torch.zeros(1, 5, 4))


# -- the compiled ops ----------------------------------------------------------------

def _layer_args(index, reverse, dtype=torch.float64):
    g = torch.Generator().manual_seed(7 + index + 2 * reverse)
    H, I = 3, 4
    bs = torch.tensor([3, 3, 2, 1])
    n = int(bs.sum())
    if index:
        x = torch.randint(0, I, (n,), generator=g)
    else:
        x = torch.randn(n, I, generator=g, dtype=dtype, requires_grad=True)
    mk = lambda *s: (torch.randn(*s, generator=g, dtype=dtype) * 0.5).requires_grad_()
    return (x, bs, mk(3, H), mk(3 * H, I), mk(3 * H, H), mk(3 * H), mk(3 * H), reverse)


@pytest.mark.parametrize("index", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("zero_h0", [False, True])
def test_gradcheck(index, reverse, zero_h0):
    if not cpp_available():
        pytest.skip("compiled ops unavailable")
    args = list(_layer_args(index, reverse))
    if zero_h0:  # the kernels skip the GEMM rows of a zero h0
        args[2] = torch.zeros_like(args[2], requires_grad=True)

    def f(*a):
        out, h_n, _, _ = torch.ops.seqkit.gru_forward(*a)
        return out, h_n

    assert torch.autograd.gradcheck(f, args)


@pytest.mark.parametrize("index", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_opcheck(index, reverse):
    if not cpp_available():
        pytest.skip("compiled ops unavailable")
    torch.library.opcheck(torch.ops.seqkit.gru_forward.default, _layer_args(index, reverse, torch.float32))


def test_compiled_matches_reference_layer():
    if not cpp_available():
        pytest.skip("compiled ops unavailable")
    args = _layer_args(False, True)
    out_c, h_c, _, _ = torch.ops.seqkit.gru_forward(*args)
    out_r, h_r = ops.gru._gru_layer_reference(*args)
    assert_close(out_c, out_r, "output")
    assert_close(h_c, h_r, "h_n")


def test_layer_input_checks():
    if not cpp_available():
        pytest.skip("compiled ops unavailable")
    x, bs, h0, wih, whh, bih, bhh, rev = _layer_args(False, False)
    with pytest.raises(ValueError, match="batch_sizes sum to"):
        torch.ops.seqkit.gru_forward(x[:-1], bs, h0, wih, whh, bih, bhh, rev)
    with pytest.raises(ValueError, match="h0 has"):
        torch.ops.seqkit.gru_forward(x, bs, h0[:2], wih, whh, bih, bhh, rev)
    with pytest.raises(IndexError, match="outside"):
        torch.ops.seqkit.gru_forward(torch.full((9,), 4), bs, h0, wih, whh, bih, bhh, rev)


@pytest.mark.parametrize("index", [False, True])
def test_opcheck_backward(index):
    if not cpp_available():
        pytest.skip("compiled ops unavailable")
    args = [a.detach() if isinstance(a, torch.Tensor) else a for a in _layer_args(index, True, torch.float32)]
    x, bs, h0, wih, whh, bih, bhh, rev = args
    out, h_n, gates, hprev = torch.ops.seqkit.gru_forward(*args)
    torch.library.opcheck(torch.ops.seqkit.gru_backward.default,
                          (torch.randn_like(out), torch.randn_like(h_n), x, bs, h0, wih, whh, gates, hprev,
                           rev, True, not index, True))


@pytest.mark.parametrize("shape", ["random", "skewed"])
def test_large_batch_two_threads(backend, shape):
    # wide enough that the batch is split into row blocks across threads (>= 2 * 128 rows
    # at H = 64); "skewed": one sequence is 30 times longer than the others, so the first
    # block runs alone for most steps
    with num_threads(2):
        g = torch.Generator().manual_seed(11)
        ref, fused = pair(10, 64, bidirectional=True)
        if shape == "random":
            lengths = torch.randint(1, 6, (300,), generator=g).tolist()
        else:
            lengths = [60] + torch.randint(1, 3, (299,), generator=g).tolist()
        _, packed = packed_batch(lengths, 10, True, g)
        compare(ref, fused, one_hot_packed(packed, 10), packed, grad_scale=1 / len(lengths))


def h_n_only_grads(seed, symbols, hidden, max_len, index, calls=1):
    """Parameter gradients of (h_n * g).sum() over 300 random sequences: nn.GRU's, then
    those of ``calls`` identical calls of FusedGRU (index or one-hot input)."""
    g = torch.Generator().manual_seed(seed)
    ref, fused = pair(symbols, hidden)
    lengths = torch.randint(1, max_len, (300,), generator=g).tolist()
    _, packed = packed_batch(lengths, symbols, True, g)
    ref_in = one_hot_packed(packed, symbols)
    fused_in = packed if index else ref_in
    g_h = torch.randn(1, 300, hidden, generator=g) / 300  # a batch mean (see compare)
    dr = torch.autograd.grad((ref(ref_in)[1] * g_h).sum(), list(ref.parameters()))
    runs = [torch.autograd.grad((fused(fused_in)[1] * g_h).sum(), list(fused.parameters())) for _ in range(calls)]
    return [n for n, _ in ref.named_parameters()], dr, runs


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("index", [False, True])
def test_h_n_only_gradients(backend, threads, index):
    # a classifier uses h_n only: the output's gradient is absent (not zeros) in backward,
    # and the bias / index gradients are per-thread partial sums when a step is split
    with num_threads(threads):
        names, dr, (df,) = h_n_only_grads(5, 12, 64, 9, index)
    for name, a, b in zip(names, df, dr):
        assert_close(a, b, f"grad of {name}")


@pytest.mark.parametrize("threads", [3, 4])
@pytest.mark.parametrize("index", [False, True])
def test_more_row_blocks_than_two(threads, index):
    # at H = 256 a block needs 32 rows, so 300 sequences make `threads` row blocks: the
    # blocks' partial sums (biases, grad W_ih, grad W_hh) are reduced over 3 or 4 slots,
    # in block order, which also makes two identical calls agree bit for bit
    if not cpp_available():
        pytest.skip("compiled ops unavailable")
    with num_threads(threads):
        names, dr, (df, again) = h_n_only_grads(17 + threads, 9, 256, 7, index, calls=2)
    for name, a, b, c in zip(names, df, dr, again):
        assert_close(a, b, f"grad of {name}")
        assert torch.equal(a, c), f"grad of {name} differs between two identical calls"


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("index", [False, True])
def test_forward_bits_do_not_depend_on_the_thread_split(monkeypatch, index, reverse):
    # the float32 forward splits the batch between two threads by their measured speeds:
    # rows move between threads, but each row's outputs must stay the same bits, whatever
    # the split (SEQKIT_GRU_FORWARD_SHARE fixes the first thread's share of the work)
    if not cpp_available():
        pytest.skip("compiled ops unavailable")
    g = torch.Generator().manual_seed(23)
    # 300 rows (2 blocks at H = 64) of lengths 1 to 300: every batch size occurs, so each
    # split leaves some step with 1-3 rows of the second block
    lengths = torch.randperm(300, generator=g).add(1).tolist()
    _, packed = packed_batch(lengths, 7, True, g)
    x = packed.data if index else nn.functional.one_hot(packed.data, 7).float()
    B = int(packed.batch_sizes[0])
    w_ih, w_hh = torch.randn(192, 7, generator=g) * 0.3, torch.randn(192, 64, generator=g) * 0.3
    b_ih, b_hh = torch.randn(192, generator=g) * 0.1, torch.randn(192, generator=g) * 0.1
    runs = []
    with num_threads(2):
        for share in ("0.3", "0.5", "0.62", "0.7", ""):
            monkeypatch.setenv("SEQKIT_GRU_FORWARD_SHARE", share)
            for h0 in (torch.zeros(B, 64), torch.randn(B, 64, generator=torch.Generator().manual_seed(3))):
                runs.append((share, h0.any().item(), torch.ops.seqkit.gru_forward(
                    x, packed.batch_sizes, h0, w_ih, w_hh, b_ih, b_hh, reverse)))
    for share, nonzero, outs in runs[2:]:
        ref = runs[int(nonzero)][2]
        for name, a, b in zip(("output", "h_n", "gates", "hprev"), outs, ref):
            assert torch.equal(a, b), f"{name} differs at share {share or 'measured'} (h0 nonzero: {nonzero})"


@pytest.mark.parametrize("index", [False, True])
def test_backward_empty_grad_output_is_zero(index):
    if not cpp_available():
        pytest.skip("compiled ops unavailable")
    args = [a.detach() if isinstance(a, torch.Tensor) else a for a in _layer_args(index, False, torch.float64)]
    x, bs, h0, wih, whh, _, _, rev = args
    out, h_n, gates, hprev = torch.ops.seqkit.gru_forward(*args)
    g_hn = torch.randn_like(h_n)
    rest = (x, bs, h0, wih, whh, gates, hprev, rev, True, not index, True)
    zero = torch.ops.seqkit.gru_backward(torch.zeros_like(out), g_hn, *rest)
    empty = torch.ops.seqkit.gru_backward(out.new_empty((0,)), g_hn, *rest)
    for a, b in zip(zero, empty):
        assert a.shape == b.shape and torch.allclose(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("hidden", [16, 5])
def test_saturation_and_nan_like_nn_gru(backend, hidden):
    # the gate pass saturates as torch does for huge pre-activations (exp clamped, no
    # inf / inf) and lets NaN through (--nan-policy relies on it), never clamping it to a
    # number; H = 16 runs whole vectors, H = 5 the vector loop's remainder
    g = torch.Generator().manual_seed(3)
    ref, fused = pair(4, hidden)
    lengths = [6, 3, 5, 1]
    seqs = [torch.randn(n, 4, generator=g) * 1e4 for n in lengths]  # pre-activations near +-1e4
    packed = pack_sequence(seqs, enforce_sorted=False)
    with torch.no_grad():
        out_r, h_r = ref(packed)
        out_f, h_f = fused(packed)
    assert torch.isfinite(out_f.data).all()
    assert_close(out_f.data, out_r.data, "saturated output")
    assert_close(h_f, h_r, "saturated h_n")

    seqs[1] = seqs[1].clone()
    seqs[1][1, 2] = float("nan")  # the second step of one sequence
    seqs[2] = seqs[2].clone()
    seqs[2][0, 0] = float("inf")
    packed = pack_sequence(seqs, enforce_sorted=False)
    with torch.no_grad():
        out_r, h_r = ref(packed)
        out_f, h_f = fused(packed)
    assert torch.equal(torch.isnan(out_f.data), torch.isnan(out_r.data))
    assert torch.equal(torch.isnan(h_f), torch.isnan(h_r))
    assert torch.isnan(h_f).any(), "a NaN input must reach h_n"
    finite = ~torch.isnan(out_r.data)
    assert_close(out_f.data[finite], out_r.data[finite], "output around NaN")
