"""Both directions at once (seqkit.ops.gru_layer_bidir, torch.ops.seqkit.gru_bidir_forward)
and the folded embedding (FusedGRU(indices, embedding=E)), against the single-direction op
and against torch.nn.GRU fed the embedded rows E[indices]."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_sequence

from conftest import cpp_available  # noqa: F401  (the backend fixture lives there too)
from seqkit import ops
from seqkit.nn.fused_gru import FusedGRU

from test_ops_gru import num_threads

needs_cpp = pytest.mark.skipif(not cpp_available(), reason="needs the compiled ops (seqkit._C)")


def _weights(g, H, I, dtype):
    mk = lambda *s: (torch.randn(*s, generator=g, dtype=dtype) * 0.5).requires_grad_()  # noqa: E731
    return (mk(3 * H, I), mk(3 * H, H), mk(3 * H), mk(3 * H))


def _case(kind, dtype, seed=0, H=6, I=5, V=9):
    g = torch.Generator().manual_seed(seed)
    lengths = [7, 7, 5, 3, 3, 1]  # equal lengths, a one-step sequence
    if kind == "dense":
        packed = pack_sequence([torch.randn(n, I, generator=g, dtype=dtype) for n in lengths])
        x = packed.data.requires_grad_()
    else:
        packed = pack_sequence([torch.randint(0, V, (n,), generator=g) for n in lengths])
        x = packed.data
    emb = (torch.randn(V, I, generator=g, dtype=dtype)).requires_grad_() if kind == "embedding" else None
    if kind == "index":  # plain symbol indices: W_ih has one column per symbol
        I = V
    B = len(lengths)
    h0 = (torch.randn(B, H, generator=g, dtype=dtype) * 0.5).requires_grad_()
    h0r = (torch.randn(B, H, generator=g, dtype=dtype) * 0.5).requires_grad_()
    return x, packed.batch_sizes, h0, h0r, _weights(g, H, I, dtype), _weights(g, H, I, dtype), emb


def _separately(x, bs, h0, h0r, wf, wr, emb):
    """The two directions as two single-direction ops (the embedding folded by hand)."""
    if emb is not None:
        wf = (wf[0] @ emb.t(),) + wf[1:]
        wr = (wr[0] @ emb.t(),) + wr[1:]
    out, h = ops.gru_layer(x, bs, h0, *wf)
    out_r, h_r = ops.gru_layer(x, bs, h0r, *wr, reverse=True)
    return out, out_r, h, h_r


def _leaves(x, h0, h0r, wf, wr, emb):
    return [t for t in (x, h0, h0r, *wf, *wr, emb) if t is not None and t.requires_grad]


@needs_cpp
@pytest.mark.parametrize("threads", [1, 2, 3, 4])
@pytest.mark.parametrize("kind", ["dense", "index", "embedding"])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_bidir_equals_two_directions(threads, kind, dtype, tol):
    """Outputs, h_n and every gradient equal the two single-direction ops', at any thread count
    (2-3 threads take the one-op path, 1 and 4 the two calls)."""
    case = _case(kind, dtype, seed=threads)
    x, bs, h0, h0r, wf, wr, emb = case
    leaves = _leaves(x, h0, h0r, wf, wr, emb)
    with num_threads(threads):
        got = ops.gru_layer_bidir(x, bs, h0, h0r, wf, wr, embedding=emb)
        want = _separately(*case)
        g = torch.Generator().manual_seed(1)
        ups = [torch.randn(t.shape, generator=g, dtype=dtype) for t in want]
        dgot = torch.autograd.grad(sum((a * u).sum() for a, u in zip(got, ups)), leaves)
        dwant = torch.autograd.grad(sum((a * u).sum() for a, u in zip(want, ups)), leaves)
    for name, a, b in zip(("output", "output_reverse", "h_n", "h_n_reverse"), got, want):
        assert (a - b).abs().max().item() <= tol, name
    for i, (a, b) in enumerate(zip(dgot, dwant)):
        err = ((a - b).abs().max() / b.abs().max().clamp_min(1)).item()
        assert err <= tol, f"gradient {i}: {err:.3g}"


@needs_cpp
def test_the_one_op_path_is_taken_at_two_threads(monkeypatch):
    """At two threads gru_layer_bidir is one gru_bidir_forward call (not two gru_forward)."""
    calls = []
    real = torch.ops.seqkit.gru_forward

    class Spy:
        def __call__(self, *a, **k):
            calls.append(1)
            return real(*a, **k)

    monkeypatch.setattr(torch.ops.seqkit, "gru_forward", Spy())
    x, bs, h0, h0r, wf, wr, emb = _case("embedding", torch.float32)
    with num_threads(2):
        ops.gru_layer_bidir(x, bs, h0, h0r, wf, wr, embedding=emb)
    assert calls == []
    with num_threads(1):
        ops.gru_layer_bidir(x, bs, h0, h0r, wf, wr, embedding=emb)
    assert len(calls) == 2


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("layers,bidirectional", [(1, True), (2, True), (1, False), (2, False)])
def test_folded_embedding_matches_nn_gru_on_embedded_rows(backend, threads, layers, bidirectional):
    """FusedGRU(indices, embedding=E) == nn.GRU(E[indices]): outputs, h_n, the gradients of
    every weight and of E (float32, 1e-5)."""
    torch.manual_seed(layers + 2 * bidirectional)
    V, E, H = 13, 8, 16
    ref = nn.GRU(E, H, num_layers=layers, bidirectional=bidirectional)
    fused = FusedGRU(E, H, num_layers=layers, bidirectional=bidirectional)
    fused.load_state_dict(ref.state_dict())
    table = torch.randn(V, E)
    e_ref, e_fused = table.clone().requires_grad_(), table.clone().requires_grad_()
    packed = pack_sequence([torch.randint(0, V, (n,)) for n in [9, 4, 6, 1, 9, 2]], enforce_sorted=False)
    with num_threads(threads):
        out_r, h_r = ref(PackedSequence(e_ref[packed.data], *packed[1:]))
        out_f, h_f = fused(packed, embedding=e_fused)
        g = torch.Generator().manual_seed(5)
        up_o, up_h = torch.randn(out_r.data.shape, generator=g), torch.randn(h_r.shape, generator=g)
        dr = torch.autograd.grad((out_r.data * up_o).sum() + (h_r * up_h).sum(), [*ref.parameters(), e_ref])
        df = torch.autograd.grad((out_f.data * up_o).sum() + (h_f * up_h).sum(), [*fused.parameters(), e_fused])
    assert (out_f.data - out_r.data).abs().max() <= 1e-5 and (h_f - h_r).abs().max() <= 1e-5
    for a, b in zip(df, dr):
        assert (a - b).abs().max() <= 1e-5


def test_embedding_needs_indices_and_matching_width():
    fused = FusedGRU(4, 3, bidirectional=True)
    rows = pack_sequence([torch.randn(3, 4)])
    with pytest.raises(ValueError, match="needs symbol indices"):
        fused(rows, embedding=torch.randn(5, 4))
    with pytest.raises(ValueError, match=r"embedding must be \[num_symbols, input_size=4\]"):
        fused(pack_sequence([torch.tensor([1, 2])]), embedding=torch.randn(5, 3))


@needs_cpp
@pytest.mark.parametrize("kind", ["dense", "index", "embedding"])
def test_gradcheck_bidir_op(kind):
    x, bs, h0, h0r, wf, wr, emb = _case(kind, torch.float64, H=3, I=4, V=5)

    def f(*a):
        return torch.ops.seqkit.gru_bidir_forward(*a)[:4]

    with num_threads(2):
        assert torch.autograd.gradcheck(f, (x, bs, h0, h0r, *wf, *wr, emb))


@needs_cpp
@pytest.mark.parametrize("kind", ["dense", "embedding"])
def test_opcheck_bidir_op(kind):
    x, bs, h0, h0r, wf, wr, emb = _case(kind, torch.float32, H=3, I=4, V=5)
    torch.library.opcheck(torch.ops.seqkit.gru_bidir_forward.default, (x, bs, h0, h0r, *wf, *wr, emb))


@needs_cpp
def test_bidir_op_refuses_an_embedding_with_float_rows():
    x, bs, h0, h0r, wf, wr, _ = _case("dense", torch.float32)
    with pytest.raises(ValueError, match="embedding .* needs symbol indices"):
        torch.ops.seqkit.gru_bidir_forward(x, bs, h0, h0r, *wf, *wr, torch.randn(9, 5))


@needs_cpp
def test_folded_embedding_under_bf16_autocast():
    """Mixed precision (bf16 products, float32 state) with the folded embedding, both
    directions in one op: within bf16's rounding of nn.GRU in float32, gradients of E too."""
    torch.manual_seed(0)
    V, E, H = 20, 16, 32
    ref = nn.GRU(E, H, bidirectional=True)
    fused = FusedGRU(E, H, bidirectional=True)
    fused.load_state_dict(ref.state_dict())
    table = torch.randn(V, E)
    e_ref, e_fused = table.clone().requires_grad_(), table.clone().requires_grad_()
    packed = pack_sequence([torch.randint(0, V, (n,)) for n in [7, 5, 3, 1]])
    with num_threads(2):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            _, h = fused(packed, embedding=e_fused)
        h.sum().backward()
        _, h_ref = ref(PackedSequence(e_ref[packed.data], packed.batch_sizes))
        h_ref.sum().backward()
    assert h.dtype == torch.float32
    assert (h - h_ref).abs().max() <= 2e-2
    assert ((e_fused.grad - e_ref.grad).abs().max() / e_ref.grad.abs().max()) <= 2e-2
