"""seqkit.ops.dropout against F.dropout's contract: the kept fraction (a binomial bound), the
scale, the gradient (the mask), reproducibility from torch's generator, and the fallbacks."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from conftest import cpp_available
from seqkit import ops

from test_ops_gru import num_threads

needs_cpp = pytest.mark.skipif(not cpp_available(), reason="needs the compiled ops (seqkit._C)")


@needs_cpp
@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.9])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kept_fraction_and_scale(p, dtype):
    x = torch.rand(200_000, dtype=dtype) + 1.0  # never zero
    y = ops.dropout(x, p)
    kept = y != 0
    n = x.numel()
    # within 6 standard deviations of the binomial's mean (fails by chance with p < 1e-8)
    assert abs(kept.sum().item() - n * (1 - p)) <= 6 * math.sqrt(n * p * (1 - p))
    assert torch.allclose(y[kept], x[kept] / (1 - p), rtol=1e-6 if dtype == torch.float32 else 1e-12)


@needs_cpp
def test_elements_are_independent():
    """Neighbouring elements are not correlated (a counter-based generator done wrong shows
    up here), nor are the masks of neighbouring seeds."""
    m = torch.ops.seqkit.dropout_mask(torch.empty(100_000), 0.5, 12345) > 0
    a, b = m[:-1].double(), m[1:].double()
    corr = ((a - a.mean()) * (b - b.mean())).mean() / (a.std() * b.std())
    assert abs(corr.item()) < 0.02
    m2 = torch.ops.seqkit.dropout_mask(torch.empty(100_000), 0.5, 12346) > 0
    assert abs((m == m2).double().mean().item() - 0.5) < 0.02


@needs_cpp
def test_gradient_is_the_mask():
    x = torch.randn(64, 256, requires_grad=True)
    y = ops.dropout(x, 0.3)
    (g,) = torch.autograd.grad(y.sum(), x)
    scale = torch.tensor(1 / 0.7, dtype=torch.float32)
    assert torch.equal(g, torch.where(y != 0, scale, torch.zeros(())))


@needs_cpp
def test_reproducible_from_torch_generator_and_thread_count():
    x = torch.randn(1000)
    torch.manual_seed(3)
    a = ops.dropout(x, 0.3)
    state = torch.get_rng_state()
    b = ops.dropout(x, 0.3)
    torch.manual_seed(3)
    with num_threads(1):
        assert torch.equal(ops.dropout(x, 0.3), a)
    torch.set_rng_state(state)
    assert torch.equal(ops.dropout(x, 0.3), b)
    assert not torch.equal(a, b)


def test_eval_and_zero_p_are_identity_and_bad_p_refused():
    x = torch.randn(10)
    assert ops.dropout(x, 0.5, training=False) is x
    assert ops.dropout(x, 0.0) is x
    assert torch.equal(ops.dropout(x, 1.0), torch.zeros(10))
    with pytest.raises(ValueError, match="between 0 and 1"):
        ops.dropout(x, 1.5)


def test_fallback_is_f_dropout_elsewhere():
    """Half precision (and other devices, or no extension) take F.dropout: same seed, same mask."""
    x = torch.randn(1000).to(torch.bfloat16)
    torch.manual_seed(0)
    a = ops.dropout(x, 0.4)
    torch.manual_seed(0)
    assert torch.equal(a, F.dropout(x, 0.4, training=True))


@needs_cpp
def test_op_checks():
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        torch.ops.seqkit.dropout_mask(torch.empty(3), 1.0, 0)
    with pytest.raises(ValueError, match="float32 or float64"):
        torch.ops.seqkit.dropout_mask(torch.empty(3, dtype=torch.int64), 0.5, 0)
    torch.library.opcheck(torch.ops.seqkit.dropout_mask.default, (torch.empty(4, 5), 0.25, 7))
