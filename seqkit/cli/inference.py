"""``seqkit predict`` and ``seqkit eval``: use a trained checkpoint.

Both take ``--device`` as ``seqkit run`` declares it, and the plugins' options marked for
inference (seq2seq's ``--beam``), which override the trained run's task options.
"""
from __future__ import annotations

import json

import click

from ..errors import ConfigError
from ..options import parse_component_options
from .params import CLIError, click_option, explicit, one_line_errors


def _shared_params() -> tuple[list[click.Parameter], list]:
    """``--checkpoint``, ``--device`` and the plugins' inference options."""
    from ..engine.config import RunConfig, plugin_options

    device = next(o for o in RunConfig.options() if o.name == "device")
    infer = [opt for component, _, opt in plugin_options() if component == "task" and opt.inference]
    params = [click.Option(["--checkpoint"], required=True, type=str, metavar="PATH", help="checkpoint.pt of a run."),
              click_option(device, default="cpu"),
              *[click_option(opt) for opt in infer]]
    return params, infer


def _task_options(infer, values: dict, extra: dict | None = None) -> dict:
    given = explicit(click.get_current_context(), [opt.name for opt in infer])
    options = {**(extra or {}), **{opt.name: values[opt.name] for opt in infer if opt.name in given}}
    for opt in infer:
        if opt.name in options:
            try:
                opt.check(options[opt.name])
            except ConfigError as exc:
                raise CLIError(str(exc)) from None
    return options


def _load(checkpoint: str, device: str, task_options: dict):
    from ..engine.config import RunConfig
    from ..engine.inference import load_run

    with one_line_errors():
        RunConfig(device=device).validate()  # --device is checked as seqkit run checks it
        return load_run(checkpoint, device=device, task_options=task_options)


def predict_command() -> click.Command:
    params, infer = _shared_params()
    params[1:1] = [click.Option(["--top-k"], type=click.IntRange(min=1), default=3, show_default=True,
                                help="Predictions shown per text (classes, or seq2seq hypotheses up to the beam).")]
    params += [click.Option(["--json", "as_json"], is_flag=True, help="Machine-readable output."),
               click.Argument(["names"], nargs=-1, required=True)]

    def callback(checkpoint, top_k, device, as_json, names, **values):
        from ..engine.inference import predict

        loaded = _load(checkpoint, device, _task_options(infer, values))
        with one_line_errors():
            results = predict(loaded, list(names), top_k=top_k)
        if as_json:
            click.echo(json.dumps([{"text": n, "predictions": r} for n, r in zip(names, results)]))
            return
        width = max(len(n) for n in names)
        for name, preds in zip(names, results):
            click.echo(f"{name:<{width}}  " + loaded.task.format_prediction(preds))

    return click.Command("predict", callback=callback, params=params, help="Predict the class (or, for seq2seq, "
                         "the output sequence) of each NAME with a trained checkpoint.")


def eval_command() -> click.Command:
    params, infer = _shared_params()
    params[1:1] = [click.Option(["--data"], type=str, default=None, metavar="PATH",
                                help="Evaluate on all of PATH (default: the run's own test split).")]
    params += [click.Option(["-o", "--option", "options"], multiple=True, metavar="task.KEY=VALUE",
                            help="Override one of the run's task options, e.g. -o task.length_penalty=1.0."),
               click.Option(["--json", "as_json"], is_flag=True, help="Machine-readable output.")]

    def callback(checkpoint, data, device, options, as_json, **values):
        from ..engine.inference import evaluate_run

        try:
            extra = parse_component_options(options)
        except ConfigError as exc:
            raise CLIError(str(exc)) from None
        if set(extra) - {"task"}:
            raise CLIError(f"seqkit eval: -o takes task options only (task.KEY=VALUE), got "
                           f"{', '.join(sorted(set(extra) - {'task'}))}")
        loaded = _load(checkpoint, device, _task_options(infer, values, extra.get("task")))
        with one_line_errors():
            metrics = evaluate_run(loaded, data)
        if as_json:
            click.echo(json.dumps(metrics))
            return
        _print_metrics(metrics, loaded.task.summary_keys)

    return click.Command("eval", callback=callback, params=params, help="Evaluate a trained checkpoint.")


def _print_metrics(metrics: dict, summary_keys) -> None:
    click.echo(f"evaluated on {metrics['evaluated_on']} ({metrics['examples']} examples)")
    for k in ("loss", *summary_keys):
        if isinstance(metrics.get(k), (int, float)):
            click.echo(f"  {k:<{max(9, len(k) + 1)}}{metrics[k]:.4f}")
    per_class = metrics.get("per_class") or {}
    if per_class:
        click.echo("  per class: " + ", ".join(f"{k} {v:.2f}" for k, v in per_class.items() if v is not None))
