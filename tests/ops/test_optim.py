"""seqkit.optim's LeanAdam / LeanAdamW against torch's fused Adam / AdamW, bit for bit, and
their clip_and_step against nn.utils.clip_grad_norm_ + torch's step."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from conftest import cpp_available
from seqkit.nn.optim import LeanAdam, LeanAdamW

PAIRS = [(LeanAdamW, torch.optim.AdamW), (LeanAdam, torch.optim.Adam)]


class Net(nn.Module):
    """An embedding, a GRU and a head: parameters of several shapes, one unused per step."""

    def __init__(self, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.emb = nn.Embedding(11, 8)
        self.gru = nn.GRU(8, 16, batch_first=True)
        self.head = nn.Linear(16, 5)
        self.spare = nn.Linear(3, 3)  # no gradient in most steps: skipped, as torch skips it

    def forward(self, x, use_spare=False):
        out = self.head(self.gru(self.emb(x))[1][-1])
        return out + self.spare(torch.ones(3)).sum() if use_spare else out


def run(opt_cls, steps=6, closure=False, hook=None, **kw):
    net = Net()
    groups = [{"params": [p for n, p in net.named_parameters() if not n.startswith("head")]},
              {"params": list(net.head.parameters()), "lr": 3e-3}]
    opt = opt_cls(groups, lr=1e-2, fused=True, **kw)
    if hook is not None:
        opt.register_step_pre_hook(hook)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[1e-2, 3e-3], total_steps=steps)
    g = torch.Generator().manual_seed(1)
    for i in range(steps):
        x = torch.randint(0, 11, (4, 5), generator=g)
        y = torch.randint(0, 5, (4,), generator=g)

        def loss_fn():
            opt.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(net(x, use_spare=i == 2), y)
            loss.backward()
            return loss

        if closure:
            opt.step(loss_fn)
        else:
            loss_fn()
            opt.step()
        sched.step()
    return net, opt


def assert_same(a, b):
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), f"{name} differs"


@pytest.mark.parametrize("lean,ref", PAIRS)
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_same_parameters_and_state_as_torch(lean, ref, weight_decay):
    net_l, opt_l = run(lean, weight_decay=weight_decay)
    net_r, opt_r = run(ref, weight_decay=weight_decay)
    assert_same(net_l, net_r)
    sl, sr = opt_l.state_dict(), opt_r.state_dict()
    assert sl["param_groups"] == sr["param_groups"]
    for k in sr["state"]:
        for name in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(sl["state"][k][name], sr["state"][k][name]), (k, name)


def test_short_path_is_taken_and_torch_path_otherwise(monkeypatch):
    # torch's step runs where a parameter has no state yet (the first step, and the third,
    # where `spare` first gets a gradient), the short path otherwise; closures and amsgrad
    # always go to torch's step, which still matches torch
    calls = []
    real = LeanAdamW._torch_step
    monkeypatch.setattr(LeanAdamW, "_torch_step", lambda self, closure: calls.append(1) or real(self, closure))
    run(LeanAdamW, steps=5)
    assert len(calls) == 2
    calls.clear()
    net_l, _ = run(LeanAdamW, closure=True)
    assert len(calls) == 6
    assert_same(net_l, run(torch.optim.AdamW, closure=True)[0])
    calls.clear()
    net_l, _ = run(LeanAdamW, amsgrad=True)
    assert len(calls) == 6
    assert_same(net_l, run(torch.optim.AdamW, amsgrad=True)[0])


def test_step_hooks_run():
    seen = []
    run(LeanAdamW, steps=3, hook=lambda opt, args, kwargs: seen.append(type(opt).__name__))
    assert seen == ["LeanAdamW"] * 3


def test_state_dict_moves_between_lean_and_torch():
    # 3 steps with one class, its state_dict into the other, 3 more: the same as 6 with torch
    g = torch.Generator().manual_seed(2)
    batches = [(torch.randint(0, 11, (4, 5), generator=g), torch.randint(0, 5, (4,), generator=g))
               for _ in range(6)]

    def train(net, opt, part):
        for x, y in part:
            opt.zero_grad()
            nn.functional.cross_entropy(net(x), y).backward()
            opt.step()

    ref = Net()
    train(ref, torch.optim.AdamW(ref.parameters(), lr=1e-2, fused=True), batches)
    for first, second in [(LeanAdamW, torch.optim.AdamW), (torch.optim.AdamW, LeanAdamW)]:
        net = Net()
        opt = first(net.parameters(), lr=1e-2, fused=True)
        train(net, opt, batches[:3])
        opt2 = second(net.parameters(), lr=1e-2, fused=True)
        opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
        train(net, opt2, batches[3:])
        assert_same(net, ref)


def test_zero_grad():
    net, opt = run(LeanAdamW, steps=2)
    net(torch.zeros(2, 3, dtype=torch.long)).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is None or not p.grad.any() for p in net.parameters())
    assert any(p.grad is not None for p in net.parameters())
    opt.zero_grad()
    assert all(p.grad is None for p in net.parameters())


# --------------------------------------------------------------------------------------
# clip_and_step: clip_grad_norm_ + step in one compiled op (seqkit::adam_step_)
# --------------------------------------------------------------------------------------

needs_cpp = pytest.mark.skipif(not cpp_available(), reason="needs the compiled extension (seqkit._C)")


def vector_sizes():
    """Tensor sizes on which torch's fused kernel takes its vector path for every element:
    each thread's share a multiple of the widest vector (16 floats / 8 doubles) and of a
    cache line. clip_and_step matches torch bit for bit there (elsewhere torch's scalar
    remainder may round exp_avg_sq's update differently, in the last bit)."""
    unit = 16 * torch.get_num_threads()
    return [(unit * 24,), (unit * 3, 5), (unit,), (unit * 130,)]


def make_params(sizes, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [nn.Parameter(torch.randn(s, generator=g, dtype=dtype)) for s in sizes]


def set_grads(params, step, scale):
    g = torch.Generator().manual_seed(100 + step)
    for p in params:
        p.grad = torch.randn(p.shape, generator=g, dtype=p.dtype) * scale


def float_norm(params):
    return sum(float(p.grad.double().pow(2).sum()) for p in params) ** 0.5


@needs_cpp
@pytest.mark.parametrize("lean,ref", PAIRS)
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_clip_and_step_matches_clip_grad_norm_and_torch_step(lean, ref, weight_decay, dtype):
    # gradient scales from far below to far above max_norm: unclipped and clipped steps
    sizes = vector_sizes()
    ours, theirs = make_params(sizes, dtype), make_params(sizes, dtype)
    opt_l = lean(ours, lr=1e-2, weight_decay=weight_decay, fused=True)
    opt_r = ref(theirs, lr=1e-2, weight_decay=weight_decay, fused=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt_l, max_lr=1e-2, total_steps=8)
    sched_r = torch.optim.lr_scheduler.OneCycleLR(opt_r, max_lr=1e-2, total_steps=8)
    max_norm = 1.0
    for step, scale in enumerate([0.1, 0.001, 1.0, 0.01, 10.0, 0.002, 100.0, 0.0005]):
        set_grads(ours, step, scale)
        set_grads(theirs, step, scale)
        if step == 0:  # no state yet: clip_and_step declines and changes nothing; torch steps both
            assert opt_l.clip_and_step(max_norm) is None
            for params, opt in ((ours, opt_l), (theirs, opt_r)):
                torch.nn.utils.clip_grad_norm_(params, max_norm)
                opt.step()
        else:
            expected = float_norm(theirs)
            norm = opt_l.clip_and_step(max_norm)
            assert norm == pytest.approx(expected, rel=1e-12)
            # the reference: clip_grad_norm_'s factor from that norm (the exact one, to double
            # rounding), then torch's fused step
            coef = min(1.0, max_norm / (norm + 1e-6))
            torch._foreach_mul_([p.grad for p in theirs], torch.tensor(coef, dtype=dtype).item())
            opt_r.step()
        sched.step()
        sched_r.step()
        for p, q in zip(ours, theirs):
            assert torch.equal(p.grad, q.grad), step
            assert torch.equal(p, q), step
        for p, q in zip(ours, theirs):
            for name in ("step", "exp_avg", "exp_avg_sq"):
                assert torch.equal(opt_l.state[p][name], opt_r.state[q][name]), (step, name)


@needs_cpp
def test_clip_and_step_is_clip_grad_norm_then_step_to_rounding():
    # any sizes (torch's scalar remainders included), against the plain torch sequence
    sizes = [(7,), (33, 3), (1,), (384, 58), (18,)]
    ours, theirs = make_params(sizes, torch.float32), make_params(sizes, torch.float32)
    opt_l = LeanAdamW(ours, lr=3e-3, weight_decay=0.01, fused=True)
    opt_r = torch.optim.AdamW(theirs, lr=3e-3, weight_decay=0.01, fused=True)
    for step, scale in enumerate([1.0, 0.01, 3.0, 0.001, 0.5]):
        set_grads(ours, step, scale)
        set_grads(theirs, step, scale)
        norm_r = float(torch.nn.utils.clip_grad_norm_(theirs, 0.5))
        opt_r.step()
        norm_l = opt_l.clip_and_step(0.5)
        if norm_l is None:
            assert step == 0
            norm_l = float(torch.nn.utils.clip_grad_norm_(ours, 0.5))
            opt_l.step()
        assert norm_l == pytest.approx(norm_r, rel=1e-6)
        for p, q in zip(ours, theirs):
            torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


@needs_cpp
def test_clip_and_step_does_not_depend_on_the_thread_count():
    sizes = [(7,), (1000, 3), (5000,), (18,)]
    results = []
    before = torch.get_num_threads()
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            params = make_params(sizes, torch.float32)
            opt = LeanAdamW(params, lr=1e-2, fused=True)
            norms = []
            for step, scale in enumerate([0.1, 1.0, 0.01, 5.0]):
                set_grads(params, step, scale)
                norm = opt.clip_and_step(0.7)
                if norm is None:
                    opt.step()
                norms.append(norm)
            results.append(([p.detach().clone() for p in params], norms))
    finally:
        torch.set_num_threads(before)
    for params, norms in results[1:]:
        assert norms == results[0][1]
        for p, q in zip(params, results[0][0]):
            assert torch.equal(p, q)


@needs_cpp
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_clip_and_step_leaves_everything_as_it_was_on_a_non_finite_norm(bad):
    params = make_params([(64,), (10, 3)], torch.float32)
    opt = LeanAdamW(params, lr=1e-2, fused=True)
    set_grads(params, 0, 1.0)
    opt.step()
    set_grads(params, 1, 1.0)
    params[1].grad[2, 1] = bad
    before = copy.deepcopy((opt.state_dict(), [p.detach().clone() for p in params],
                            [p.grad.clone() for p in params]))
    norm = opt.clip_and_step(1.0)
    assert norm is not None and not torch.isfinite(torch.tensor(norm))
    after = (opt.state_dict(), [p.detach() for p in params], [p.grad for p in params])
    for k, s in before[0]["state"].items():
        for name, t in s.items():
            assert torch.equal(t, after[0]["state"][k][name])
    for x, y in zip(before[1] + before[2], after[1] + after[2]):
        assert torch.equal(x.nan_to_num(), y.nan_to_num()) and torch.equal(x.isnan(), y.isnan())


@needs_cpp
def test_clip_and_step_declines_where_torch_step_would_run(monkeypatch):
    def ready(opt_cls, params, **kw):
        opt = opt_cls(params, lr=1e-2, fused=True, **kw)
        set_grads([p for g in opt.param_groups for p in g["params"]], 0, 1.0)
        opt.step()
        set_grads([p for g in opt.param_groups for p in g["params"]], 1, 1.0)
        return opt

    assert ready(LeanAdamW, make_params([(64,)], torch.float32)).clip_and_step(1.0) is not None
    assert ready(LeanAdamW, make_params([(64,)], torch.float32), amsgrad=True).clip_and_step(1.0) is None
    opt = ready(LeanAdamW, make_params([(64,)], torch.float32))
    opt.register_step_pre_hook(lambda *a: None)
    assert opt.clip_and_step(1.0) is None
    two = make_params([(64,), (32,)], torch.float32)
    assert ready(LeanAdamW, [{"params": [two[0]]}, {"params": [two[1]], "lr": 1e-3}]).clip_and_step(1.0) is None
    opt = ready(LeanAdamW, make_params([(8, 8)], torch.float32))
    p = opt.param_groups[0]["params"][0]
    p.grad = torch.randn(8, 8).t()  # not contiguous
    assert opt.clip_and_step(1.0) is None
    monkeypatch.setenv("SEQKIT_BACKEND", "reference")
    assert ready(LeanAdamW, make_params([(64,)], torch.float32)).clip_and_step(1.0) is None
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="max_norm must be positive"):
            opt.clip_and_step(bad)


@needs_cpp
def test_adam_step_op_checks_its_lists():
    import seqkit.ops  # noqa: F401  (loads the op)

    p = [torch.zeros(4), torch.zeros(3)]
    z = [torch.zeros(4), torch.zeros(3)]
    steps = [torch.tensor(0.0), torch.tensor(0.0)]
    with pytest.raises(ValueError, match="same length"):
        torch.ops.seqkit.adam_step_(p, z[:1], z, z, steps, 1e-3, 0.9, 0.999, 0.0, 1e-8, True, None)
    with pytest.raises(ValueError, match="contiguous CPU"):
        torch.ops.seqkit.adam_step_(p, [torch.zeros(4), torch.zeros(4)], z, z, steps, 1e-3, 0.9, 0.999, 0.0,
                                    1e-8, True, None)
    torch.library.opcheck(torch.ops.seqkit.adam_step_.default,
                          ([torch.randn(40), torch.randn(3, 5)], [torch.randn(40), torch.randn(3, 5)],
                           [torch.zeros(40), torch.zeros(3, 5)], [torch.zeros(40), torch.zeros(3, 5)],
                           [torch.tensor(0.0), torch.tensor(0.0)], 1e-3, 0.9, 0.999, 0.01, 1e-8, True, 0.5),
                          test_utils=("test_schema", "test_autograd_registration"))
