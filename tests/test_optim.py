"""seqkit.optim's LeanAdam / LeanAdamW against torch's fused Adam / AdamW, bit for bit."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from seqkit.optim import LeanAdam, LeanAdamW

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
