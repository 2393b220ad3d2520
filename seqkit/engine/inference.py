"""Using a trained run: rebuild it from ``checkpoint.pt``, predict, evaluate.

``seqkit predict`` and ``seqkit eval`` are these functions; in Python::

    from seqkit.engine import load_run, predict, evaluate_run
    run = load_run("runs/name2lang/checkpoint.pt")
    predict(run, ["Nakamura", "Ivanov"], top_k=3)
    evaluate_run(run)                      # metrics on the run's own test split

A checkpoint holds plain values and tensors only (loaded with ``weights_only=True``):
the model's state_dict, the encoder (registry name + state), the task's state
(``Task.state_dict``: classify's labels, seq2seq's target vocabulary), the run's options,
its summary metrics and the plugins its components came from. Checkpoints written by
seqkit 0.1 (labels at the top level, the ``balance`` option in the config) load too.

Whatever goes wrong is one :class:`~seqkit.errors.CheckpointError` line naming the file:
a component whose plugin is not installed (naming the package recorded at training
time), weights that do not fit the model (which keys, which sizes), a file that is not a
safe checkpoint.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn

from ..data.sampling import BucketBatchSampler
from ..errors import CheckpointError, DataError, SeqkitError
from ..plugin import registry
from .checkpoint import check_components, load_weights, one_line
from .checkpoint import load as load_checkpoint
from .components import load_dataset, resolve_device
from .config import RunConfig, make_task
from .evaluation import evaluate_batches
from .loader import InProcessLoader
from .precision import autocast
from .task import TaskContext


@dataclass
class Loaded:
    """A model rebuilt from a checkpoint, ready for prediction or evaluation."""

    model: nn.Module
    encoder: Any
    config: RunConfig
    task: Any
    collator: Any
    #: the checkpoint file, and the components (and plugins) it records
    path: str | None = None
    components: dict = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


def task_state(ckpt: dict) -> dict:
    """The task's saved state; in a seqkit 0.1 checkpoint the class labels stood at the top."""
    state = dict(ckpt.get("task_state") or {})
    if ckpt.get("labels") and "labels" not in state:
        state["labels"] = list(ckpt["labels"])
    return state


def load_run(path: str, device: str = "cpu", *, task_options: dict | None = None) -> Loaded:
    """Rebuild task, encoder, cell and model from ``checkpoint.pt`` (weights only).
    ``task_options`` override the run's own (e.g. ``{"beam": 10}`` for a seq2seq run)."""
    ckpt = load_checkpoint(path)
    if not isinstance(ckpt.get("config"), dict) or not isinstance(ckpt.get("encoder"), dict):
        raise CheckpointError(f"{path}: not a checkpoint of a seqkit run (no config or encoder); pass the "
                              f"checkpoint.pt of a `seqkit run --out DIR`")
    check_components({**ckpt, "config": {**ckpt["config"], "encoder": ckpt["encoder"].get("name")}}, path)
    try:
        config = RunConfig.from_dict(ckpt["config"])
        if task_options:
            config = replace(config, task_options={**config.task_options, **task_options})
        encoder = registry.encoders.create(ckpt["encoder"]["name"])
        encoder.load_state_dict(ckpt["encoder"]["state"])
        task = make_task(config)
        task.load_state_dict(task_state(ckpt))
        ctx = TaskContext.from_config(config, encoder=encoder)
        collator = task.make_collator(ctx)
        model = task.build_model(ctx)
    except SeqkitError:
        raise
    except (KeyError, RuntimeError, TypeError, ValueError) as exc:
        what = f"no {exc}" if isinstance(exc, KeyError) else one_line(str(exc), 200)
        raise CheckpointError(f"{path}: checkpoint does not match this seqkit and its plugins ({what}); "
                              f"retrain with `seqkit run`") from None
    load_weights(model, ckpt.get("model"), path=path, what="weights",
                 fix=f"it was not written for this {config.task} model with cell '{config.cell}' (another run's "
                     f"weights, or another seqkit version); retrain with `seqkit run`, or load it with the seqkit "
                     f"and plugins that wrote it")
    model.to(resolve_device(device)).eval()
    return Loaded(model, encoder, config, task, collator, path=path, components=dict(ckpt.get("components") or {}))


def predict(loaded: Loaded, texts: list[str], *, top_k: int = 3, **options) -> list[Any]:
    """Predictions for ``texts`` (in order); the task defines their form and ``options`` (e.g. ``beam``)."""
    for i, t in enumerate(texts):
        if not loaded.encoder.encode(t):
            raise DataError(f"text {i} ({t!r}) is empty after encoding; give a non-empty text")
    device = loaded.device
    batch = loaded.collator([(t, None) for t in texts]).to(device)
    with torch.no_grad(), autocast(loaded.config.precision, device):
        return loaded.task.predict(loaded.model, batch, top_k=top_k, **options)


def evaluate_run(loaded: Loaded, data: str | None = None, *, batch_size: int = 512) -> dict[str, Any]:
    """Metrics of a checkpoint on all of ``data`` or, without it, on its run's test split."""
    config = loaded.config
    if loaded.path is not None:  # the dataset is needed now: its plugin too
        check_components({"config": {"dataset": config.dataset}, "components": loaded.components}, loaded.path,
                         kinds=("dataset",))
    if data is not None:
        eval_ds = loaded.task.evaluation_data(load_dataset(config, path=data), data)
        where = data
    else:
        ds = load_dataset(config)
        _, eval_ds, _ = loaded.task.split(ds, TaskContext.from_config(config, encoder=loaded.encoder))
        where = f"test split of {ds.source}"
    sampler = BucketBatchSampler(eval_ds.lengths(), batch_size, bucket=True, shuffle=False)
    loader = InProcessLoader(eval_ds, sampler, loaded.collator)
    metrics = evaluate_batches(loaded.task, loaded.model, loader, loaded.device, config.precision)
    metrics["examples"] = len(eval_ds)
    metrics["evaluated_on"] = where
    return metrics
