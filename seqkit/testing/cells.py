"""Cell checks: a recurrent cell factory against the cell contract of docs/plugins.md.

``factory(input_size, hidden_size, num_layers=1, dropout=0.0, bidirectional=False,
**options)`` returns an ``nn.Module`` whose ``forward(x, h0=None)`` takes a
``PackedSequence`` or a ``(T, B, I)`` tensor and returns ``(output, h_n)`` exactly as
``torch.nn.GRU`` does. The checks use only that contract, never the class of a cell:
torch's own modules are merely one implementation that passes.

Most checks run once per :class:`CellConfig` (``packed_matches_alone[bi]``); a
configuration the factory refuses with ``ValueError`` or ``NotImplementedError`` makes
its checks skip with the factory's message, except the basic one (the first), which
every cell must support.

``index_input`` checks the ``"indices"`` capability (int64 symbol indices where one-hot
rows are meant). It runs only for a cell that declares it: a registered name through its
registration (``register("fused-gru", make_fused_gru, capabilities={"indices"})``), a
plain callable through ``capabilities={"indices"}`` given to :func:`cell_checks` or
:func:`check_cell`; without it the check is skipped, naming the capability.
``embedding_input`` checks the ``"embedding"`` capability the same way: ``cell(indices,
embedding=E)`` must give what ``cell(E[indices])`` gives, outputs and gradients.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import torch

from ._sequences import (_ATOL, _RTOL, _call, _compare_alone, _initial_state, _packed, _padded, _seqs, _states,
                         _unpack)
from .core import (Check, Report, _capabilities, _close, _Ctx, _expect, _fail, _Failed, _fmt, _maxdiff, _resolve,
                   _Unsupported, check_component)

__all__ = ["CellConfig", "CELL_CONFIGS", "cell_checks", "check_cell"]


@dataclass(frozen=True)
class CellConfig:
    """One combination of the cell factory's standard options; ``name`` goes into check ids."""

    name: str
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    def kwargs(self) -> dict:
        return {"num_layers": self.num_layers, "dropout": self.dropout, "bidirectional": self.bidirectional}

    def describe(self) -> str:
        """The options that differ from the defaults (``bidirectional=True``), or "the defaults"."""
        base = CellConfig("").kwargs()
        diff = [f"{k}={v!r}" for k, v in self.kwargs().items() if v != base[k]]
        return ", ".join(diff) or "the default options (num_layers=1, dropout=0.0, bidirectional=False)"


#: The configurations every per-configuration cell check runs under; the first is the
#: basic one every cell must support.
CELL_CONFIGS = (
    CellConfig("uni"),
    CellConfig("bi", bidirectional=True),
    CellConfig("2layers", num_layers=2),
    CellConfig("2layers-bi", num_layers=2, bidirectional=True),
)
_DROPOUT_CONFIG = CellConfig("2layers-dropout", num_layers=2, dropout=0.5)
_LENGTHS = (3, 6, 1, 4, 6)  # unsorted, with a tie and a length-one sequence


def _make_cell(ctx: _Ctx, cfg: CellConfig, *, seed: int | None = None, dtype=None):
    base = ctx.extra["configs"][0]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(ctx.seed if seed is None else seed)
        try:
            cell = ctx.factory(ctx.extra["input_size"], ctx.extra["hidden_size"], **cfg.kwargs(), **ctx.options)
        except (ValueError, NotImplementedError) as exc:
            msg = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"
            if cfg == base:
                _fail(f"the factory refused the basic configuration ({cfg.describe()}) with {msg}; every cell "
                      f"must support it")
            raise _Unsupported(f"the factory does not support {cfg.describe()} ({msg})") from None
    if not isinstance(cell, torch.nn.Module):
        _fail(f"the factory must return a torch.nn.Module, got {type(cell).__name__}")
    if dtype is not None:
        cell = cell.to(dtype)
    return cell


def _expected_shapes(ctx: _Ctx, cfg: CellConfig, T: int, B: int) -> tuple[tuple, tuple]:
    """The shapes torch.nn.GRU gives for the same arguments (a reference, not the cell under test)."""
    I, H = ctx.extra["input_size"], ctx.extra["hidden_size"]
    ref = torch.nn.GRU(I, H, num_layers=cfg.num_layers, bidirectional=cfg.bidirectional)
    with torch.no_grad():
        out, h = ref(torch.zeros(T, B, I))
    return tuple(out.shape), tuple(h.shape)


def _check_state_shapes(h, expected: tuple, where: str) -> list:
    states = _states(h)
    _expect(tuple(states[0].shape) == expected, f"{where}: h_n shape (num_layers * directions, batch, hidden)",
            expected, tuple(states[0].shape))
    for k, s in enumerate(states[1:], 1):
        _expect(tuple(s.shape[:2]) == expected[:2], f"{where}: h_n[{k}] (e.g. c_n) leading dims", expected[:2],
                tuple(s.shape[:2]))
    return states


# -- the cell checks ------------------------------------------------------------------
def _cell_is_module(ctx: _Ctx) -> None:
    cell = _make_cell(ctx, ctx.extra["configs"][0])
    params = list(cell.parameters())
    _expect(len(params) > 0, "the cell's parameters (nn.Parameter, so optimisers and state_dict see them)",
            "at least one", "none")
    _expect(callable(getattr(cell, "forward", None)), "a forward method", "forward(x, h0=None)", "none")


def _cell_shapes_padded(ctx: _Ctx, cfg: CellConfig) -> None:
    cell = _make_cell(ctx, cfg)
    seqs = _seqs(ctx, [5, 5, 5])
    x = _padded(seqs)
    out, h = _call(cell, x)
    exp_out, exp_h = _expected_shapes(ctx, cfg, x.shape[0], x.shape[1])
    _expect(isinstance(out, torch.Tensor), "padded (T, B, I) input: output type", "a tensor", type(out).__name__)
    _expect(tuple(out.shape) == exp_out, "padded input: output shape (T, B, directions * hidden)", exp_out,
            tuple(out.shape))
    _expect(out.dtype == x.dtype, "padded input: output dtype", x.dtype, out.dtype)
    _check_state_shapes(h, exp_h, "padded input")


def _cell_shapes_packed(ctx: _Ctx, cfg: CellConfig) -> None:
    from torch.nn.utils.rnn import PackedSequence

    cell = _make_cell(ctx, cfg)
    seqs = _seqs(ctx, _LENGTHS)
    x = _packed(seqs)
    out, h = _call(cell, x)
    _expect(isinstance(out, PackedSequence), "packed input: output type", "PackedSequence", type(out).__name__)
    exp_out, exp_h = _expected_shapes(ctx, cfg, max(_LENGTHS), len(_LENGTHS))
    _expect(tuple(out.data.shape) == (sum(_LENGTHS), exp_out[-1]),
            "packed input: output.data shape (total steps, directions * hidden)",
            (sum(_LENGTHS), exp_out[-1]), tuple(out.data.shape))
    _expect(out.batch_sizes.tolist() == x.batch_sizes.tolist(), "packed input: output.batch_sizes",
            x.batch_sizes.tolist(), out.batch_sizes.tolist())
    for attr in ("sorted_indices", "unsorted_indices"):
        a, b = getattr(x, attr), getattr(out, attr)
        _expect(b is not None and a.tolist() == b.tolist(), f"packed input: output.{attr} (the input's)",
                a.tolist(), None if b is None else b.tolist())
    _check_state_shapes(h, exp_h, "packed input")


def _cell_packed_matches_alone(ctx: _Ctx, cfg: CellConfig) -> None:
    cell = _make_cell(ctx, cfg).eval()
    seqs = _seqs(ctx, _LENGTHS)
    out, h = _call(cell, _packed(seqs))
    _compare_alone(ctx, cell, seqs, _unpack(out), h, what="packed input")


def _cell_output_matches_h_n(ctx: _Ctx, cfg: CellConfig) -> None:
    """The last layer's output at each sequence's last step (forward) and first step
    (backward) is its h_n, as torch.nn.GRU defines them."""
    cell = _make_cell(ctx, cfg).eval()
    seqs = _seqs(ctx, _LENGTHS)
    out, h = _call(cell, _packed(seqs))
    out = _unpack(out)
    hn = _states(h)[0]
    H, D, L = ctx.extra["hidden_size"], cfg.directions, cfg.num_layers
    if out.shape[-1] != D * H:
        _fail(f"output feature size: expected directions * hidden = {D * H}, got {out.shape[-1]}")
    for i, n in enumerate(_LENGTHS):
        fwd, last = out[n - 1, i, :H], hn[(L - 1) * D, i]
        if not _close(fwd, last, atol=_ATOL, rtol=_RTOL):
            _fail(f"sequence {i} (length {n}): the forward output at its last valid step must equal the last "
                  f"layer's h_n ({_maxdiff(fwd, last)}): expected {_fmt(last)}, got {_fmt(fwd)}")
        if D == 2:
            bwd, first = out[0, i, H:], hn[(L - 1) * D + 1, i]
            if not _close(bwd, first, atol=_ATOL, rtol=_RTOL):
                _fail(f"sequence {i} (length {n}): the backward output at step 0 must equal the last layer's "
                      f"backward h_n ({_maxdiff(bwd, first)}): expected {_fmt(first)}, got {_fmt(bwd)}")


def _cell_padded_matches_packed(ctx: _Ctx, cfg: CellConfig) -> None:
    """Equal lengths: padded and packed input give the same results. Unidirectional
    cells: with unequal lengths, valid padded steps do not depend on what follows."""
    cell = _make_cell(ctx, cfg).eval()
    seqs = _seqs(ctx, [4, 4, 4])
    out_p, h_p = _call(cell, _padded(seqs))
    out_k, h_k = _call(cell, _packed(seqs))
    out_k = _unpack(out_k)
    if not _close(out_p, out_k, atol=_ATOL, rtol=_RTOL):
        _fail(f"equal-length batch: padded output must equal packed output ({_maxdiff(out_p, out_k)})")
    for k, (a, b) in enumerate(zip(_states(h_p), _states(h_k))):
        if not _close(a, b, atol=_ATOL, rtol=_RTOL):
            _fail(f"equal-length batch: h_n{'' if k == 0 else f'[{k}]'} from padded input must equal h_n from packed "
                  f"input ({_maxdiff(a, b)})")
    if not cfg.bidirectional:
        seqs = _seqs(ctx, _LENGTHS)
        out_p, _ = _call(cell, _padded(seqs, junk=True))
        _compare_alone(ctx, cell, seqs, out_p, None, what="padded input with junk after the shorter sequences "
                                                          "(unidirectional)")


def _cell_initial_state(ctx: _Ctx, cfg: CellConfig) -> None:
    """``h0`` is in the caller's batch order, for packed and padded input; zeros == None."""
    cell = _make_cell(ctx, cfg).eval()
    seqs = _seqs(ctx, _LENGTHS)
    x = _packed(seqs)
    out0, h = _call(cell, x)
    h0 = _initial_state(ctx, h, len(seqs))
    out, h1 = _call(cell, x, h0)
    _compare_alone(ctx, cell, seqs, _unpack(out), h1, what="packed input with h0", h0=h0)
    zeros = _initial_state(ctx, h, len(seqs))
    zeros = zeros * 0 if not isinstance(zeros, tuple) else tuple(z * 0 for z in zeros)
    _, hz = _call(cell, x, zeros)
    for a, b in zip(_states(h), _states(hz)):
        if not _close(a, b, atol=_ATOL, rtol=_RTOL):
            _fail(f"h0 of zeros must give the same result as h0=None ({_maxdiff(a, b)})")
    same = all(_close(a, b, atol=_ATOL, rtol=_RTOL) for a, b in zip(_states(h), _states(h1)))
    if same:
        _fail("a random h0 gave the same h_n as h0=None: the cell ignores h0")
    eq = _seqs(ctx, [3, 3, 3])
    h0p = _initial_state(ctx, h, 3, seed=8)
    out, h2 = _call(cell, _padded(eq), h0p)
    _compare_alone(ctx, cell, eq, out, h2, what="padded input with h0", h0=h0p)


def _cell_batch_order(ctx: _Ctx, cfg: CellConfig) -> None:
    """Permuting the batch permutes output and h_n the same way (packed and padded)."""
    cell = _make_cell(ctx, cfg).eval()
    seqs = _seqs(ctx, _LENGTHS)
    perm = [3, 0, 4, 2, 1]
    out, h = _call(cell, _packed(seqs))
    out2, h2 = _call(cell, _packed([seqs[p] for p in perm]))
    out, out2 = _unpack(out), _unpack(out2)
    for k, (a, b) in enumerate(zip(_states(h), _states(h2))):
        if not _close(a[:, perm], b, atol=_ATOL, rtol=_RTOL):
            _fail(f"packed input: permuting the batch by {perm} must permute h_n{'' if k == 0 else f'[{k}]'} the same "
                  f"way ({_maxdiff(a[:, perm], b)})")
    if not _close(out[:, perm], out2, atol=_ATOL, rtol=_RTOL):
        _fail(f"packed input: permuting the batch by {perm} must permute the output the same way "
              f"({_maxdiff(out[:, perm], out2)})")
    eq = _seqs(ctx, [4, 4, 4, 4])
    perm = [2, 0, 3, 1]
    x = _padded(eq)
    out, h = _call(cell, x)
    out2, h2 = _call(cell, x[:, perm])
    if not _close(out[:, perm], out2, atol=_ATOL, rtol=_RTOL):
        _fail(f"padded input: permuting the batch by {perm} must permute the output the same way "
              f"({_maxdiff(out[:, perm], out2)})")
    for a, b in zip(_states(h), _states(h2)):
        if not _close(a[:, perm], b, atol=_ATOL, rtol=_RTOL):
            _fail(f"padded input: permuting the batch by {perm} must permute h_n the same way "
                  f"({_maxdiff(a[:, perm], b)})")


def _cell_batch_of_one(ctx: _Ctx, cfg: CellConfig) -> None:
    cell = _make_cell(ctx, cfg).eval()
    exp_out, exp_h = _expected_shapes(ctx, cfg, 4, 1)
    seqs = _seqs(ctx, [4])
    out, h = _call(cell, _packed(seqs))
    _check_state_shapes(h, exp_h, "a packed batch of one")
    _compare_alone(ctx, cell, seqs, _unpack(out), h, what="a packed batch of one")
    out, h = _call(cell, _padded(seqs))
    _expect(tuple(out.shape) == exp_out, "a padded batch of one: output shape", exp_out, tuple(out.shape))
    _check_state_shapes(h, exp_h, "a padded batch of one")


def _cell_length_one(ctx: _Ctx, cfg: CellConfig) -> None:
    cell = _make_cell(ctx, cfg).eval()
    exp_out, exp_h = _expected_shapes(ctx, cfg, 1, 3)
    seqs = _seqs(ctx, [1, 1, 1])
    out, h = _call(cell, _padded(seqs))
    _expect(tuple(out.shape) == exp_out, "sequences of length one (padded): output shape", exp_out, tuple(out.shape))
    _check_state_shapes(h, exp_h, "sequences of length one (padded)")
    out, h = _call(cell, _packed(seqs))
    _compare_alone(ctx, cell, seqs, _unpack(out), h, what="sequences of length one (packed)")
    seqs = _seqs(ctx, [1, 5, 1])
    out, h = _call(cell, _packed(seqs))
    _compare_alone(ctx, cell, seqs, _unpack(out), h, what="length-one sequences beside longer ones (packed)")


def _cell_gradients(ctx: _Ctx, cfg: CellConfig) -> None:
    cell = _make_cell(ctx, cfg)
    seqs = [s.requires_grad_(True) for s in _seqs(ctx, _LENGTHS)]
    out, h = _call(cell, _packed(seqs))
    g = torch.Generator().manual_seed(5)
    loss = (out.data * torch.randn(out.data.shape, generator=g)).sum()
    for s in _states(h):
        loss = loss + (s * torch.randn(s.shape, generator=g)).sum()
    loss.backward()
    problems = []
    for name, p in cell.named_parameters():
        if not p.requires_grad:
            continue
        if p.grad is None:
            problems.append(f"{name}: no gradient (not used in forward, or detached)")
        elif not bool(torch.isfinite(p.grad).all()):
            problems.append(f"{name}: non-finite gradient")
        elif float(p.grad.abs().sum()) == 0.0:
            problems.append(f"{name}: gradient is all zeros")
    if problems:
        _fail("gradients must reach every parameter: expected a finite non-zero gradient for each, got "
              + "; ".join(problems))
    for i, s in enumerate(seqs):
        if s.grad is None or float(s.grad.abs().sum()) == 0.0:
            _fail(f"gradients must reach the input: expected a non-zero gradient for sequence {i}, got "
                  f"{'none' if s.grad is None else 'zeros'}")


def _cell_state_dict(ctx: _Ctx, cfg: CellConfig) -> None:
    """state_dict -> torch.save/torch.load(weights_only=True) -> a fresh instance: same outputs."""
    a = _make_cell(ctx, cfg, seed=ctx.seed + 1).eval()
    b = _make_cell(ctx, cfg, seed=ctx.seed + 2).eval()
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    try:
        b.load_state_dict(state)
    except Exception as exc:
        _fail(f"load_state_dict(state_dict()) into a fresh instance: expected it to load, got "
              f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")
    seqs = _seqs(ctx, _LENGTHS)
    for kind, x in (("packed", _packed(seqs)), ("padded", _padded(_seqs(ctx, [4, 4])))):
        oa, ha = _call(a, x)
        ob, hb = _call(b, x)
        oa = oa.data if kind == "packed" else oa
        ob = ob.data if kind == "packed" else ob
        pairs = [(oa, ob)] + list(zip(_states(ha), _states(hb)))
        for ta, tb in pairs:
            if ta.shape != tb.shape or not bool((ta == tb).all()):
                _fail(f"a fresh instance loaded with state_dict() must give identical outputs ({kind} input): "
                      f"{_maxdiff(ta, tb)}; keep every weight in parameters or buffers")


def _cell_to_float64(ctx: _Ctx, cfg: CellConfig) -> None:
    cell = _make_cell(ctx, cfg).eval()
    seqs = _seqs(ctx, _LENGTHS)
    out32, h32 = _call(cell, _packed(seqs))
    cell64 = cell.to(torch.float64)
    if cell64 is None:
        cell64 = cell
    bad = [n for n, p in cell64.named_parameters() if p.is_floating_point() and p.dtype != torch.float64]
    _expect(not bad, ".to(torch.float64): parameter dtypes", "float64", f"other dtypes for {', '.join(bad)}")
    try:
        out64, h64 = _call(cell64, _packed([s.double() for s in seqs]))
    except NotImplementedError as exc:
        raise _Unsupported(f"float64 forward is not implemented ({exc})") from None
    _expect(out64.data.dtype == torch.float64, ".to(torch.float64): output dtype", torch.float64, out64.data.dtype)
    for s in _states(h64):
        _expect(s.dtype == torch.float64, ".to(torch.float64): h_n dtype", torch.float64, s.dtype)
    if not _close(out32.data, out64.data, atol=1e-4, rtol=1e-3):
        _fail(f".to(torch.float64): float64 outputs must match float32 ones ({_maxdiff(out32.data, out64.data)})")
    for a, b in zip(_states(h32), _states(h64)):
        if not _close(a, b, atol=1e-4, rtol=1e-3):
            _fail(f".to(torch.float64): float64 h_n must match float32 ({_maxdiff(a, b)})")


def _cell_to_cuda(ctx: _Ctx, cfg: CellConfig) -> None:
    if not torch.cuda.is_available():
        raise _Unsupported("needs CUDA")
    cell = _make_cell(ctx, cfg).eval()
    seqs = _seqs(ctx, _LENGTHS)
    out_c, h_c = _call(cell, _packed(seqs))
    cell = cell.to("cuda") or cell
    try:
        out_g, h_g = _call(cell, _packed(seqs).to("cuda"))
    except NotImplementedError as exc:
        raise _Unsupported(f"CUDA forward is not implemented ({exc})") from None
    _expect(out_g.data.is_cuda, '.to("cuda"): output device', "cuda", out_g.data.device)
    for s in _states(h_g):
        _expect(s.is_cuda, '.to("cuda"): h_n device', "cuda", s.device)
    if not _close(out_c.data, out_g.data, atol=1e-3, rtol=1e-2):
        _fail(f'.to("cuda"): CUDA outputs must match CPU ones ({_maxdiff(out_c.data, out_g.data)})')
    for a, b in zip(_states(h_c), _states(h_g)):
        if not _close(a, b, atol=1e-3, rtol=1e-2):
            _fail(f'.to("cuda"): CUDA h_n must match the CPU h_n ({_maxdiff(a, b)})')
    x = _padded(_seqs(ctx, [3, 3])).to("cuda")
    out, h = _call(cell, x)
    _expect(out.is_cuda, '.to("cuda"), padded input: output device', "cuda", out.device)


def _cell_seeded(ctx: _Ctx, cfg: CellConfig) -> None:
    """The same seed gives the same initial parameters and outputs."""
    a = _make_cell(ctx, cfg, seed=ctx.seed + 11).eval()
    b = _make_cell(ctx, cfg, seed=ctx.seed + 11).eval()
    sa, sb = a.state_dict(), b.state_dict()
    _expect(list(sa) == list(sb), "two instances made under the same seed: state_dict keys", list(sa), list(sb))
    differ = [k for k in sa if hasattr(sa[k], "shape")
              and (sa[k].shape != sb[k].shape or not bool((sa[k] == sb[k]).all()))]
    if differ:
        _fail(f"two instances made under the same torch seed must start with identical parameters, got different "
              f"{', '.join(differ)}; draw initial values from torch's global RNG (not numpy/random/time)")
    seqs = _seqs(ctx, _LENGTHS)
    oa, ha = _call(a, _packed(seqs))
    ob, hb = _call(b, _packed(seqs))
    oc, hc = _call(a, _packed(seqs))
    for x, y, what in ((oa.data, ob.data, "two seeded instances"), (oa.data, oc.data, "two calls of one instance")):
        if x.shape != y.shape or not bool((x == y).all()):
            _fail(f"{what} must give identical outputs in eval mode ({_maxdiff(x, y)})")
    for x, y in zip(_states(ha), _states(hb)):
        if x.shape != y.shape or not bool((x == y).all()):
            _fail(f"two seeded instances must give identical h_n ({_maxdiff(x, y)})")


def _cell_dropout(ctx: _Ctx) -> None:
    """dropout acts between layers in training only: eval mode equals a dropout-free cell."""
    cfg = _DROPOUT_CONFIG
    cell = _make_cell(ctx, cfg)
    plain = _make_cell(ctx, CellConfig("2layers", num_layers=2), seed=ctx.seed + 3)
    try:
        plain.load_state_dict(cell.state_dict())
    except Exception as exc:
        _fail(f"the state_dict of a cell with dropout=0.5 must load into one with dropout=0.0, got "
              f"{type(exc).__name__}: {exc}")
    seqs = _seqs(ctx, _LENGTHS)
    cell.eval(), plain.eval()
    oa, ha = _call(cell, _packed(seqs))
    ob, hb = _call(plain, _packed(seqs))
    if not _close(oa.data, ob.data, atol=_ATOL, rtol=_RTOL):
        _fail(f"in eval mode a cell with dropout=0.5 must equal the same cell with dropout=0.0 "
              f"({_maxdiff(oa.data, ob.data)})")
    cell.train()
    ot, _ = _call(cell, _packed(seqs))
    if _close(ot.data, oa.data, atol=_ATOL, rtol=_RTOL):
        _fail("in train mode dropout=0.5 between two layers must change the output; expected it to differ from "
              "eval mode, got identical outputs (dropout is ignored)")


def _index_batches(n: int) -> list[tuple[str, Any, Any]]:
    """``(what, indices, one-hot rows)`` for a packed batch of unequal lengths and a padded
    ``(T, B)`` batch (how the model hands indices to the cell with the ``pad`` collator)."""
    import torch.nn.functional as F
    from torch.nn.utils.rnn import PackedSequence

    g = torch.Generator().manual_seed(3)
    idx = [torch.randint(0, n, (k,), generator=g) for k in _LENGTHS]
    packed = _packed(idx)
    rows = PackedSequence(F.one_hot(packed.data, n).float(), packed.batch_sizes, packed.sorted_indices,
                          packed.unsorted_indices)
    padded = torch.randint(0, n, (4, 3), generator=g)
    return [("packed", packed, rows), ("padded (T, B)", padded, F.one_hot(padded, n).float())]


def _cell_index_input(ctx: _Ctx) -> None:
    """Cells that declare the ``indices`` capability: int64 symbol indices give what the
    one-hot float rows of the same symbols give (``input_size`` is the number of symbols),
    packed and padded, in every configuration the factory supports."""
    if "indices" not in ctx.extra["capabilities"]():
        hint = ("registered without capabilities={'indices'}" if ctx.target.startswith("'")
                else "pass capabilities={'indices'} to check a cell that takes them")
        raise _Unsupported(f"the cell does not declare the 'indices' capability ({hint})")
    batches = _index_batches(ctx.extra["input_size"])
    for cfg in ctx.extra["configs"]:
        try:
            cell = _make_cell(ctx, cfg).eval()
        except _Unsupported:
            continue  # a configuration the factory refuses (the basic one fails in _make_cell)
        for what, idx, rows in batches:
            try:
                oi, hi = _call(cell, idx)
            except _Failed:
                raise
            except Exception as exc:  # a cell that declares indices but cannot take them
                _fail(f"the 'indices' capability ({cfg.describe()}, {what} input): int64 symbol indices must be "
                      f"accepted, got {type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}")
            orow, hrow = _call(cell, rows)
            a, b = (oi.data, orow.data) if what == "packed" else (oi, orow)
            if not _close(a, b, atol=_ATOL, rtol=_RTOL):
                _fail(f"the 'indices' capability ({cfg.describe()}, {what} input): int64 index input must give the "
                      f"output of the one-hot rows ({_maxdiff(a, b)}): expected {_fmt(b)}, got {_fmt(a)}")
            for a, b in zip(_states(hi), _states(hrow)):
                if not _close(a, b, atol=_ATOL, rtol=_RTOL):
                    _fail(f"the 'indices' capability ({cfg.describe()}, {what} input): h_n from index input must "
                          f"equal h_n from one-hot rows ({_maxdiff(a, b)})")


def _cell_embedding_input(ctx: _Ctx) -> None:
    """Cells that declare the ``embedding`` capability: ``cell(indices, embedding=E)`` gives
    the output, h_n and the gradient of E that ``cell(E[indices])`` gives, packed and padded."""
    from torch.nn.utils.rnn import PackedSequence

    if "embedding" not in ctx.extra["capabilities"]():
        hint = ("registered without capabilities={'embedding'}" if ctx.target.startswith("'")
                else "pass capabilities={'embedding'} to check a cell that folds an embedding")
        raise _Unsupported(f"the cell does not declare the 'embedding' capability ({hint})")
    table = torch.randn(7, ctx.extra["input_size"], generator=torch.Generator().manual_seed(4))
    for cfg in ctx.extra["configs"]:
        try:
            cell = _make_cell(ctx, cfg).eval()
        except _Unsupported:
            continue
        for what, idx, _ in _index_batches(7):
            where = f"the 'embedding' capability ({cfg.describe()}, {what} input)"
            e1, e2 = table.clone().requires_grad_(), table.clone().requires_grad_()
            try:
                oe, he = cell(idx, embedding=e1)
            except Exception as exc:  # a cell that declares the capability but cannot take it
                _fail(f"{where}: cell(indices, embedding=E) must be accepted, got {type(exc).__name__}: "
                      f"{(str(exc).strip().splitlines() or [''])[0]}")
            rows = PackedSequence(e2[idx.data], idx.batch_sizes, idx.sorted_indices, idx.unsorted_indices) \
                if what == "packed" else e2[idx]
            orow, hrow = cell(rows)
            a, b = (oe.data, orow.data) if what == "packed" else (oe, orow)
            if not _close(a.detach(), b.detach(), atol=_ATOL, rtol=_RTOL):
                _fail(f"{where}: the output must equal that of the embedded rows E[indices] ({_maxdiff(a, b)})")
            for x, y in zip(_states(he), _states(hrow)):
                if not _close(x.detach(), y.detach(), atol=_ATOL, rtol=_RTOL):
                    _fail(f"{where}: h_n must equal that of the embedded rows ({_maxdiff(x, y)})")
            (a.sum() + sum(x.sum() for x in _states(he))).backward()
            (b.sum() + sum(y.sum() for y in _states(hrow))).backward()
            if not _close(e1.grad, e2.grad, atol=_ATOL, rtol=_RTOL):
                _fail(f"{where}: the gradient of E must equal that through the embedded rows "
                      f"({_maxdiff(e1.grad, e2.grad)})")


_CELL_PER_CONFIG = (
    ("shapes_padded", _cell_shapes_padded),
    ("shapes_packed", _cell_shapes_packed),
    ("packed_matches_alone", _cell_packed_matches_alone),
    ("output_matches_h_n", _cell_output_matches_h_n),
    ("padded_matches_packed", _cell_padded_matches_packed),
    ("initial_state", _cell_initial_state),
    ("batch_order", _cell_batch_order),
    ("batch_of_one", _cell_batch_of_one),
    ("length_one", _cell_length_one),
    ("gradients", _cell_gradients),
    ("state_dict_roundtrip", _cell_state_dict),
    ("to_float64", _cell_to_float64),
    ("to_cuda", _cell_to_cuda),
    ("seeded_determinism", _cell_seeded),
)


def _bind(func, *args):
    return lambda ctx: func(ctx, *args)


def cell_checks(factory: Callable | str, *, input_size: int = 5, hidden_size: int = 4,
                configs: Sequence[CellConfig] = CELL_CONFIGS, options: dict | None = None, seed: int = 0,
                capabilities: str | Iterable[str] | None = None) -> list[tuple[str, Check]]:
    """Every cell check as ``(name, check)`` pairs; per-configuration checks are named
    ``check[config]`` (e.g. ``packed_matches_alone[bi]``).

    ``factory(input_size, hidden_size, num_layers=, dropout=, bidirectional=, **options)``
    or a registered cell name. ``configs``: the option combinations to check (the first
    must be supported; a configuration the factory refuses with ``ValueError`` or
    ``NotImplementedError`` makes its checks skip).

    ``capabilities``: what a plain callable declares (``{"indices"}``: it takes int64
    symbol indices for one-hot rows; ``index_input`` then checks that claim, and skips
    without it; ``{"embedding"}``: it folds ``embedding=E``, checked by ``embedding_input``). A registered name's capabilities are those of its registration, so
    passing ``capabilities=`` with a name is a ``ValueError``.
    """
    fn, target = _resolve("cell", factory)
    configs = tuple(configs)
    if not configs:
        raise ValueError("configs must hold at least one CellConfig")
    ctx = _Ctx("cell", fn, target, seed, dict(options or {}),
               {"input_size": int(input_size), "hidden_size": int(hidden_size), "configs": configs,
                "capabilities": _capabilities("cell", factory, capabilities)})
    out = [("is_module", Check("cell", "is_module", _cell_is_module, ctx))]
    for cfg in configs:
        for name, func in _CELL_PER_CONFIG:
            full = f"{name}[{cfg.name}]"
            out.append((full, Check("cell", full, _bind(func, cfg), ctx)))
    out.append(("dropout_between_layers", Check("cell", "dropout_between_layers", _cell_dropout, ctx)))
    out.append(("index_input", Check("cell", "index_input", _cell_index_input, ctx)))
    out.append(("embedding_input", Check("cell", "embedding_input", _cell_embedding_input, ctx)))
    return out


def check_cell(factory: Callable | str, **kw: Any) -> Report:
    """Run every cell check (see :func:`cell_checks` for the keywords, ``capabilities=``
    among them); return the :class:`Report`, raising ``ConformanceError`` on a failure."""
    return check_component("cell", factory, **kw)
