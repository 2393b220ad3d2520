"""The training engine in-process: reproducibility, class balancing, EMA, dedup."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import cpp_available
from seqkit import registry
from seqkit.engine import RunConfig, train
from seqkit.errors import ConfigError


def small(names_path, out, **kw):
    cfg = dict(data=str(names_path), hidden_size=8, embedding_dim=8, epochs=1, batch_size=512, quiet=True,
               out=str(out), threads=1)
    cfg.update(kw)
    return RunConfig(**cfg)


@pytest.mark.slow
def test_same_seed_same_weights_and_metrics(names_path, tmp_path):
    a = train(small(names_path, tmp_path / "a", seed=7))
    b = train(small(names_path, tmp_path / "b", seed=7))
    train(small(names_path, tmp_path / "c", seed=8))
    wa = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)["model"]
    wb = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)["model"]
    wc = torch.load(tmp_path / "c" / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)
    for key in ("top1", "macro_f1", "confusion"):
        assert a[key] == b[key]


@pytest.mark.slow
def test_dedup_run_reports_disjoint_split(names_path, tmp_path):
    m = train(small(names_path, tmp_path / "d", dedup=True))
    assert m["split"]["dedup"] and m["split"]["test_texts_seen_in_train"] == 0
    assert m["split"]["train"] + m["split"]["test"] == 18015
    assert sum(map(sum, m["confusion"])) == m["split"]["test"]


def test_balance_options(name2lang):
    from seqkit.engine import TaskContext

    ctx = TaskContext.from_config(RunConfig())
    ds = name2lang.subset(range(0, 20074, 5))
    y = ds.label_indices()
    counts = np.bincount(y, minlength=len(ds.labels))
    w = np.asarray(registry.tasks.create("classify", balance="sampler").sample_weights(ds, ctx))
    per_class = np.array([w[y == c].sum() for c in range(len(ds.labels)) if counts[c]])
    assert np.allclose(per_class, per_class[0])  # every class gets the same total weight
    assert registry.tasks.create("classify", balance="none").sample_weights(ds, ctx) is None
    task = registry.tasks.create("classify", balance="loss")
    task.setup(ds, ctx)
    lw = task.loss_weight.numpy()
    assert lw[ds.labels.index("Vietnamese")] > lw[ds.labels.index("Russian")] * 50


@pytest.mark.slow
def test_balanced_sampler_run_trains(names_path, tmp_path):
    m = train(small(names_path, tmp_path / "s", task_options={"balance": "sampler"}))
    assert m["config"]["task_options"]["balance"] == "sampler" and 0 < m["top1"] <= 1


@pytest.mark.slow
def test_ema_weights_are_what_is_saved_and_evaluated(names_path, tmp_path):
    m = train(small(names_path, tmp_path / "e", ema=0.9))
    from seqkit.engine import evaluate_run, load_run

    again = evaluate_run(load_run(str(tmp_path / "e" / "checkpoint.pt")))
    assert again["top1"] == pytest.approx(m["top1"], abs=1e-12)
    hist = [json.loads(line) for line in (tmp_path / "e" / "history.jsonl").read_text().splitlines()]
    assert hist[-1]["top1"] == m["top1"]


@pytest.mark.parametrize("field, value, message", [
    ("optimizer", "rmsprop", "--optimizer must be one of"),
    ("lr", -1.0, "--lr must be a positive number"),
    ("dropout", 1.5, "--dropout must be in [0, 1)"),
    ("test_size", 1.5, "--test-size must be between 0 and 1"),
])
def test_config_errors(names_path, tmp_path, field, value, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(")", r"\)")):
        train(small(names_path, tmp_path / "x", **{field: value}))


@pytest.mark.slow
def test_tiny_runs_with_onecycle(tmp_path):
    """OneCycleLR with a handful of steps (it divides by zero at 4 steps if configured naively)."""
    data = tmp_path / "tiny.txt"
    data.write_text("".join(f"{n},{l}\n" for n, l in [("Ab", "X"), ("Ac", "X"), ("Ad", "X"), ("Ae", "X"),
                                                         ("Ba", "Y"), ("Bb", "Y"), ("Bc", "Y"), ("Bd", "Y")]))
    for epochs in (1, 2, 4):
        m = train(RunConfig(data=str(data), hidden_size=4, embedding_dim=4, epochs=epochs, batch_size=2,
                            test_size=0.5, quiet=True, out=str(tmp_path / f"r{epochs}")))
        assert m["epochs"] == epochs


def test_cell_refusing_an_option_is_a_config_error(names_path, tmp_path):
    def uni_only(input_size, hidden_size, num_layers=1, dropout=0.0, bidirectional=False):
        if bidirectional:
            raise NotImplementedError("uni-only supports one direction")
        return torch.nn.GRU(input_size, hidden_size)

    registry.cells.register("uni-only", uni_only)
    try:
        with pytest.raises(ConfigError, match="cell 'uni-only' .*refused its options: uni-only supports one "
                                              "direction \\(try --unidirectional\\)"):
            train(small(names_path, tmp_path / "u", cell="uni-only", bidirectional=True))
    finally:
        registry.cells.unregister("uni-only")


def test_exploding_training_stops_naming_epoch_and_step(names_path, tmp_path):
    from seqkit.errors import NumericalError

    with pytest.raises(NumericalError, match=r"non-finite (loss|gradient) at epoch 1, step \d+ of \d+ .*lower --lr"
                                             r".*--clip 1.0.*--nan-policy skip"):
        train(small(names_path, tmp_path / "n", optimizer="sgd", lr=1e30, clip=None, schedule="none"))


@pytest.mark.slow
def test_nan_policy_skip_counts_skipped_steps(names_path, tmp_path):
    m = train(small(names_path, tmp_path / "k", optimizer="sgd", lr=1e30, clip=None, schedule="none",
                    nan_policy="skip"))
    assert m["nonfinite_steps_skipped"] > 0
    hist = [json.loads(line) for line in (tmp_path / "k" / "history.jsonl").read_text().splitlines()]
    assert hist[-1]["nonfinite_steps_skipped"] == m["nonfinite_steps_skipped"]


@pytest.mark.parametrize("max_norm", [0.05, 1e6, float("inf")])
@pytest.mark.parametrize("mixed_dtypes", [False, True])
def test_clip_gradients_matches_clip_grad_norm(max_norm, mixed_dtypes):
    # the engine's clipping gives nn.utils.clip_grad_norm_'s norm and scaled gradients,
    # including parameters without a gradient and (through torch's path) mixed dtypes
    import math

    from seqkit.engine import clip_gradients

    g = torch.Generator().manual_seed(3)
    shapes = [(7, 5), (5,), (3, 3, 2), (4,)]
    dtypes = [torch.float64 if mixed_dtypes and i == 3 else torch.float32 for i in range(len(shapes))]
    ref = [torch.nn.Parameter(torch.randn(s, generator=g, dtype=dt)) for s, dt in zip(shapes, dtypes)]
    ours = [torch.nn.Parameter(p.detach().clone()) for p in ref]
    for i, (a, b) in enumerate(zip(ref, ours)):
        if i == 2:
            continue  # no gradient
        grad = torch.randn(a.shape, generator=g, dtype=a.dtype)
        a.grad, b.grad = grad.clone(), grad.clone()
    expected = float(torch.nn.utils.clip_grad_norm_(ref, max_norm))
    got = clip_gradients(ours, max_norm)
    assert math.isclose(got, expected, rel_tol=1e-6)
    for a, b in zip(ref, ours):
        if a.grad is None:
            assert b.grad is None
        else:
            torch.testing.assert_close(b.grad, a.grad, rtol=1e-6, atol=1e-7)
    if max_norm == 0.05:  # clipping happened: the new norm is max_norm
        assert math.isclose(float(torch.nn.utils.get_total_norm([p.grad for p in ours if p.grad is not None])),
                            0.05, rel_tol=1e-4)


def test_clip_gradients_reports_nonfinite():
    from seqkit.engine import clip_gradients

    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.tensor([1.0, float("nan"), 2.0])
    assert not np.isfinite(clip_gradients([p], 1.0))
    assert clip_gradients([torch.nn.Parameter(torch.ones(2))], 1.0) == 0.0


@pytest.mark.parametrize("collator", ["pack", "fused-pack", "pad"])
def test_in_process_loader_matches_dataloader(names_path, collator):
    # the engine's in-process loader gives DataLoader's batches and leaves torch's global
    # generator where DataLoader's iterator leaves it (so runs keep their random stream)
    from torch.utils.data import DataLoader

    from seqkit.data.sampling import BucketBatchSampler
    from seqkit.engine import InProcessLoader, TaskContext, apply_task_defaults, create, load_dataset, make_task

    cfg = apply_task_defaults(small(names_path, "unused", collator=collator))
    ds = load_dataset(cfg)
    task = make_task(cfg)
    ctx = TaskContext.from_config(cfg)
    train_ds, _, _ = task.split(ds, ctx)
    ctx.encoder = create(registry.encoders, cfg.encoder, **cfg.encoder_options)
    ctx.encoder.fit(train_ds.texts)
    task.setup(train_ds, ctx)
    col = task.make_collator(ctx)
    sampler = BucketBatchSampler(train_ds.lengths(), 300, bucket=True, shuffle=True, seed=4)
    sampler.set_epoch(3)
    torch.manual_seed(0)
    ref_iter = iter(DataLoader(train_ds, batch_sampler=sampler, collate_fn=col))
    ref_state = torch.get_rng_state()
    ref = list(ref_iter)
    torch.manual_seed(0)
    ours_iter = iter(InProcessLoader(train_ds, sampler, col))
    assert torch.equal(torch.get_rng_state(), ref_state)
    ours = list(ours_iter)
    assert len(ours) == len(ref) == len(InProcessLoader(train_ds, sampler, col)) > 1
    for a, b in zip(ours, ref):
        assert torch.equal(a.lengths, b.lengths) and torch.equal(a.targets, b.targets)
        if a.packed:
            for x, y in zip(a.inputs, b.inputs):
                assert (x is None and y is None) or torch.equal(x, y)
        else:
            assert torch.equal(a.inputs, b.inputs)


@pytest.mark.slow
@pytest.mark.skipif(not cpp_available(), reason="needs the compiled extension (seqkit._C)")
def test_adamw_steps_go_through_clip_and_step(names_path, tmp_path, monkeypatch):
    # every step but the first (no optimizer state yet) clips and steps in the one op; a
    # non-finite norm from it is a skipped step under --nan-policy skip
    from seqkit.nn.optim import LeanAdamW

    real = LeanAdamW.clip_and_step
    results = []

    def counted(self, max_norm=float("inf")):
        if len(results) == 3:  # a non-finite norm: nothing changed, as the op does
            results.append(float("nan"))
            return float("nan")
        results.append(real(self, max_norm))
        return results[-1]

    monkeypatch.setattr(LeanAdamW, "clip_and_step", counted)
    m = train(small(names_path, tmp_path / "o", batch_size=1024, nan_policy="skip"))
    epochs = (tmp_path / "o" / "history.jsonl").read_text().splitlines()
    assert len(epochs) == 1 and len(results) > 5
    assert results[0] is None and all(r is not None for r in results[1:])
    assert m["nonfinite_steps_skipped"] == 1
