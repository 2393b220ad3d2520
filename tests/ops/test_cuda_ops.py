"""The CUDA kernels (csrc/kernels/cuda/, launchers in csrc/torch/cuda/): compile check
everywhere, numerics where there is a GPU.

- test_nvcc_check: runs .ci/nvcc-check (every csrc/kernels/**/*.cu through nvcc -arch=sm_90);
  skipped only when nvcc is absent ("needs nvcc").
- everything else needs a GPU and skips with "needs CUDA" without one. On a GPU the
  extension must have been built with the CUDA kernels (setup.py's CUDAExtension path):
  a CPU-only build there is a failure, not a skip. Comparisons are float32 with TF32 off
  (1e-4) against torch.nn.GRU (cuDNN) and against the CPU ops, plus float64.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_sequence

from seqkit import ops
from seqkit.nn.fused_gru import FusedGRU

ROOT = Path(__file__).resolve().parents[2]
ATOL = 1e-4

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.slow
def test_nvcc_check():
    nvcc = os.environ.get("NVCC", "nvcc")
    if shutil.which(nvcc) is None:
        pytest.skip("needs nvcc")
    env = dict(os.environ, PYTHON=sys.executable)
    proc = subprocess.run(["bash", str(ROOT / ".ci" / "nvcc-check")], capture_output=True, text=True,
                          timeout=600, env=env)
    assert proc.returncode == 0, f"nvcc-check failed:\n{proc.stdout}\n{proc.stderr}"
    cu_files = sorted((ROOT / "csrc" / "kernels").rglob("*.cu"))
    assert cu_files, "no csrc/kernels/**/*.cu"
    for f in cu_files:
        assert f"ok     {f.relative_to(ROOT).as_posix()}" in proc.stdout, proc.stdout
    if "skipping the launcher syntax check" not in proc.stdout:
        for f in sorted((ROOT / "csrc" / "torch" / "cuda").glob("*.cpp")):
            assert f"ok     {f.relative_to(ROOT).as_posix()} (syntax" in proc.stdout, proc.stdout


# -- fixtures (GPU only) ---------------------------------------------------------------

@pytest.fixture
def cuda_ops(monkeypatch):
    """The compiled ops with their CUDA kernels; TF32 off; the C++ backend."""
    monkeypatch.setenv("SEQKIT_BACKEND", "cpp")
    assert ops.backend() == "cpp"
    assert ops.runtime.has_cuda_kernels(), (
        "seqkit._C has no CUDA kernels: build it with a CUDA torch and nvcc present "
        "(pip install --no-build-isolation -e .), see docs/cuda.md")
    prev = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = prev


@pytest.fixture(params=["steps", "persistent"])
def gru_mode(request, monkeypatch):
    """Both forward paths: per-step (GEMM + gate kernel) and the persistent kernel."""
    monkeypatch.setenv("SEQKIT_CUDA_GRU", request.param)
    return request.param


def assert_close(a, b, what, atol=ATOL):
    assert a.shape == b.shape, f"{what}: shape {tuple(a.shape)} != {tuple(b.shape)}"
    err = (a.double().cpu() - b.double().cpu()).abs().max().item() if a.numel() else 0.0
    assert err <= atol, f"{what}: max abs error {err:.3g} > {atol}"


# -- fused GRU vs torch.nn.GRU (cuDNN) on the GPU ----------------------------------------

def _pair(input_size, hidden, **kw):
    ref = nn.GRU(input_size, hidden, **kw).cuda()
    fused = FusedGRU(input_size, hidden, **kw).cuda()
    fused.load_state_dict(ref.state_dict())
    return ref, fused


def _compare(ref, fused, ref_in, fused_in, h0=None, atol=ATOL):
    out_r, h_r = ref(ref_in, h0)
    out_f, h_f = fused(fused_in, h0)
    data_r = out_r.data if isinstance(out_r, PackedSequence) else out_r
    data_f = out_f.data if isinstance(out_f, PackedSequence) else out_f
    assert data_f.is_cuda and h_f.is_cuda
    assert_close(data_f, data_r, "output", atol)
    assert_close(h_f, h_r, "h_n", atol)
    g = torch.Generator(device="cuda").manual_seed(0)
    g_out = torch.randn(data_r.shape, device="cuda", generator=g, dtype=data_r.dtype)
    g_h = torch.randn(h_r.shape, device="cuda", generator=g, dtype=h_r.dtype)
    extra = [h0] if h0 is not None else []
    dr = torch.autograd.grad((data_r * g_out).sum() + (h_r * g_h).sum(), list(ref.parameters()) + extra)
    df = torch.autograd.grad((data_f * g_out).sum() + (h_f * g_h).sum(), list(fused.parameters()) + extra)
    names = [n for n, _ in ref.named_parameters()] + ["h0"] * len(extra)
    for name, a, b in zip(names, df, dr):
        assert_close(a, b, f"grad of {name}", atol)


def _packed(lengths, input_size, index, seed):
    g = torch.Generator().manual_seed(seed)
    if index:
        seqs = [torch.randint(0, input_size, (n,), generator=g).cuda() for n in lengths]
    else:
        seqs = [torch.randn(n, input_size, generator=g).cuda() for n in lengths]
    return pack_sequence(seqs, enforce_sorted=False)


def _one_hot(p, size):
    return PackedSequence(nn.functional.one_hot(p.data, size).float(), p.batch_sizes,
                          p.sorted_indices, p.unsorted_indices)


@needs_cuda
@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, False), (1, True), (2, True)])
@pytest.mark.parametrize("with_h0", [False, True])
@pytest.mark.parametrize("index", [False, True])
def test_packed_matches_cudnn(cuda_ops, gru_mode, layers, bidirectional, with_h0, index):
    inp, hid = 11, 16
    torch.manual_seed(layers * 10 + bidirectional * 2 + with_h0 + 100 * index)
    ref, fused = _pair(inp, hid, num_layers=layers, bidirectional=bidirectional)
    lengths = [5, 1, 7, 3, 7, 2, 4, 1, 6]
    packed = _packed(lengths, inp, index, 7)
    assert packed.batch_sizes.device.type == "cpu"
    h0 = None
    if with_h0:
        h0 = torch.randn(layers * (2 if bidirectional else 1), len(lengths), hid, device="cuda",
                         requires_grad=True)
    _compare(ref, fused, _one_hot(packed, inp) if index else packed, packed, h0)


@needs_cuda
@pytest.mark.parametrize("hidden", [128, 256, 257])
@pytest.mark.parametrize("index", [False, True])
def test_name2lang_sizes_match_cudnn(cuda_ops, gru_mode, hidden, index):
    """Batch 256 of name-like lengths at the hidden sizes the persistent kernel covers
    (and 257, where it falls back to the per-step path)."""
    inp = 57
    torch.manual_seed(hidden + index)
    ref, fused = _pair(inp, hidden)
    g = torch.Generator().manual_seed(1)
    lengths = torch.randint(1, 19, (256,), generator=g).tolist()
    packed = _packed(lengths, inp, index, 3)
    _compare(ref, fused, _one_hot(packed, inp) if index else packed, packed)


@needs_cuda
def test_padded_input_and_dense_gradient(cuda_ops, gru_mode):
    torch.manual_seed(2)
    ref, fused = _pair(5, 7, num_layers=2, bidirectional=True, batch_first=True)
    x = torch.randn(4, 6, 5, device="cuda", requires_grad=True)
    h0 = torch.randn(4, 4, 7, device="cuda", requires_grad=True)
    _compare(ref, fused, x, x, h0)
    (gr,) = torch.autograd.grad(ref(x)[0].square().sum(), x)
    (gf,) = torch.autograd.grad(fused(x)[0].square().sum(), x)
    assert_close(gf, gr, "grad of input")


@needs_cuda
def test_no_bias_and_float64(cuda_ops, gru_mode):
    torch.manual_seed(3)
    ref, fused = _pair(4, 5, bias=False, bidirectional=True)
    p = _packed([3, 2, 2], 4, False, 4)
    _compare(ref, fused, p, p)
    ref, fused = _pair(4, 5, num_layers=2)
    ref.double()
    fused.double()
    x = torch.randn(6, 3, 4, device="cuda", dtype=torch.float64)
    _compare(ref, fused, x, x, atol=1e-10)


# -- the CUDA ops against the CPU ops, output by output ----------------------------------

def _layer_args(index, reverse, dtype, H=5, I=6, device="cuda", seed=0):
    g = torch.Generator().manual_seed(seed + index + 2 * reverse)
    bs = torch.tensor([4, 4, 3, 1, 1])
    n = int(bs.sum())
    x = torch.randint(0, I, (n,), generator=g) if index else torch.randn(n, I, generator=g, dtype=dtype)
    mk = lambda *s: torch.randn(*s, generator=g, dtype=dtype) * 0.5
    args = [x, bs, mk(4, H), mk(3 * H, I), mk(3 * H, H), mk(3 * H), mk(3 * H)]
    return [a if a is bs else a.to(device) for a in args] + [reverse]


@needs_cuda
@pytest.mark.parametrize("index", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ops_match_cpu_ops(cuda_ops, gru_mode, index, reverse, dtype):
    atol = ATOL if dtype == torch.float32 else 1e-10
    cpu = _layer_args(index, reverse, dtype, device="cpu")
    dev = _layer_args(index, reverse, dtype, device="cuda")
    fwd_c = torch.ops.seqkit.gru_forward(*cpu)
    fwd_d = torch.ops.seqkit.gru_forward(*dev)
    for name, a, b in zip(["output", "h_n", "gates", "hprev"], fwd_d, fwd_c):
        assert a.is_cuda
        assert_close(a, b, f"gru_forward {name}", atol)
    g = torch.Generator().manual_seed(9)
    gout = torch.randn(fwd_c[0].shape, generator=g, dtype=dtype)
    ghn = torch.randn(fwd_c[1].shape, generator=g, dtype=dtype)
    x, bs, h0, w_ih, w_hh = cpu[:5]
    bwd_c = torch.ops.seqkit.gru_backward(gout, ghn, x, bs, h0, w_ih, w_hh, fwd_c[2], fwd_c[3], reverse,
                                          True, not index, True)
    xd, bsd, h0d, w_ihd, w_hhd = dev[:5]
    bwd_d = torch.ops.seqkit.gru_backward(gout.cuda(), ghn.cuda(), xd, bsd, h0d, w_ihd, w_hhd, fwd_d[2],
                                          fwd_d[3], reverse, True, not index, True)
    names = ["grad_input", "grad_h0", "grad_w_ih", "grad_w_hh", "grad_b_ih", "grad_b_hh"]
    for name, a, b in zip(names, bwd_d, bwd_c):
        assert_close(a, b, f"gru_backward {name}", atol)


@needs_cuda
@pytest.mark.parametrize("index", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_gradcheck_float64(cuda_ops, gru_mode, index, reverse):
    args = _layer_args(index, reverse, torch.float64)
    args = [a.requires_grad_() if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args]

    def f(*a):
        out, h_n, _, _ = torch.ops.seqkit.gru_forward(*a)
        return out, h_n

    assert torch.autograd.gradcheck(f, tuple(args))


@needs_cuda
@pytest.mark.parametrize("index", [False, True])
def test_opcheck(cuda_ops, index):
    args = _layer_args(index, False, torch.float32)
    torch.library.opcheck(torch.ops.seqkit.gru_forward.default, tuple(args))


@needs_cuda
def test_bad_symbol_index_raises(cuda_ops, gru_mode):
    args = _layer_args(True, False, torch.float32)
    args[0] = args[0].clone()
    args[0][3] = 6  # I = 6 symbols: 6 is out of range
    with pytest.raises(IndexError, match="outside"):
        torch.ops.seqkit.gru_forward(*args)


@needs_cuda
def test_batch_sizes_must_stay_on_cpu(cuda_ops):
    args = _layer_args(False, False, torch.float32)
    args[1] = args[1].cuda()
    with pytest.raises(ValueError, match="batch_sizes must be a 1-D CPU int64 tensor"):
        torch.ops.seqkit.gru_forward(*args)


# -- encode-and-pack on the GPU ------------------------------------------------------------

def _corpus(seed=0, n=300, num_symbols=57):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 20, (n,), generator=g)
    offsets = torch.zeros(n + 1, dtype=torch.int64)
    offsets[1:] = lengths.cumsum(0)
    symbols = torch.randint(0, num_symbols, (int(offsets[-1]),), generator=g)
    rows = torch.randperm(n, generator=g)[:256]
    return symbols, offsets, rows


def _assert_packed_equal(d, c):
    data_d, bs_d, si_d, ui_d = d
    data_c, bs_c, si_c, ui_c = c
    assert data_d.is_cuda and si_d.is_cuda and ui_d.is_cuda
    assert bs_d.device.type == "cpu" and bs_d.dtype == torch.int64, "batch_sizes must stay a CPU tensor"
    assert data_d.dtype == data_c.dtype
    assert torch.equal(data_d.cpu(), data_c), "data"
    assert torch.equal(bs_d, bs_c), "batch_sizes"
    assert torch.equal(si_d.cpu(), si_c), "sorted_indices"
    assert torch.equal(ui_d.cpu(), ui_c), "unsorted_indices"


@needs_cuda
@pytest.mark.parametrize("one_hot", [False, True])
@pytest.mark.parametrize("sym_dtype", [torch.uint8, torch.int32, torch.int64])
@pytest.mark.parametrize("off_dtype", [torch.int32, torch.int64])
def test_encode_pack_corpus_matches_cpu(cuda_ops, one_hot, sym_dtype, off_dtype):
    symbols, offsets, rows = _corpus()
    symbols, offsets = symbols.to(sym_dtype), offsets.to(off_dtype)
    cpu = torch.ops.seqkit.encode_pack_corpus(symbols, offsets, rows, 57, one_hot)
    dev = torch.ops.seqkit.encode_pack_corpus(symbols.cuda(), offsets.cuda(), rows.cuda(), 57, one_hot)
    _assert_packed_equal(dev, cpu)
    # through the Python face too
    p = ops.encode_pack_corpus(symbols.cuda(), offsets, rows, num_symbols=57, one_hot=one_hot)
    _assert_packed_equal(tuple(p), cpu)


@needs_cuda
def test_encode_pack_corpus_bad_symbol(cuda_ops):
    symbols, offsets, rows = _corpus()
    symbols[int(offsets[rows[5]])] = 57
    with pytest.raises(ValueError, match="is outside \\[0, 57\\)"):
        torch.ops.seqkit.encode_pack_corpus(symbols.cuda(), offsets.cuda(), rows.cuda(), 57, True)


def texts_to_codes(texts, alphabet):
    """Flat int32 code points + offsets + a code point -> symbol table (first occurrence)."""
    import numpy as np

    joined = "".join(texts)
    codes = torch.from_numpy(np.frombuffer(joined.encode("utf-32-le"), dtype=np.int32).copy())
    offsets = torch.zeros(len(texts) + 1, dtype=torch.int64)
    offsets[1:] = torch.tensor([len(t) for t in texts]).cumsum(0)
    lut = torch.full((max(map(ord, alphabet)) + 1,), -1, dtype=torch.int32)
    for i, ch in reversed(list(enumerate(alphabet))):
        lut[ord(ch)] = i
    return codes, offsets, lut


@needs_cuda
@pytest.mark.parametrize("one_hot", [False, True])
def test_encode_pack_codes_matches_encode_pack(cuda_ops, one_hot):
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,;'éß"
    g = torch.Generator().manual_seed(0)
    texts = ["".join(alphabet[i] for i in torch.randint(0, len(alphabet), (int(n),), generator=g))
             for n in torch.randint(1, 16, (300,), generator=g)]
    texts[7] = texts[7] + "ü"  # not in the alphabet
    codes, offsets, lut = texts_to_codes(texts, alphabet)
    ref = ops.encode_pack(texts, alphabet, one_hot=one_hot, unknown=2)
    got = torch.ops.seqkit.encode_pack_codes(codes, offsets, lut, 2, len(alphabet), one_hot,
                                             torch.device("cuda"))
    _assert_packed_equal(got, tuple(ref))
    with pytest.raises(ValueError, match="not in the alphabet"):
        torch.ops.seqkit.encode_pack_codes(codes, offsets, lut, -1, len(alphabet), one_hot,
                                           torch.device("cuda"))


@pytest.mark.slow
@needs_cuda
def test_cli_trains_fused_gru_on_cuda(cuda_ops, names_path, tmp_path):
    """seqkit run --cell fused-gru --collator fused-pack --device cuda, end to end."""
    import json

    from conftest import run_seqkit

    proc = run_seqkit("run", "--data", str(names_path), "--cell", "fused-gru", "--collator", "fused-pack",
                      "--device", "cuda", "--epochs", "1", "--hidden-size", "32", "--batch-size", "128",
                      "--out", str(tmp_path / "r"), "--json", "--quiet", env={"SEQKIT_BACKEND": "cpp"})
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(proc.stdout)
    assert metrics["top1"] > metrics["baseline_top1"], metrics  # one epoch beats the majority class
