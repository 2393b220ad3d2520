"""The ``seqkit`` command line (click).

:func:`build_cli` builds a fresh command group (tests build their own); the choices of
``--cell``, ``--dataset``, ``--encoder``, ``--collator`` and ``--task`` come from the
registries, so a plugin's names appear in ``--help`` and in shell completion
(``eval "$(_SEQKIT_COMPLETE=bash_source seqkit)"``). Bad usage or input prints one line
and exits with status 2.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import fields
from typing import Any

import click

from . import __version__, registry
from .errors import SeqkitError

EXIT_BAD_INPUT = 2


class CLIError(click.ClickException):
    """A one-line error with exit status 2."""

    exit_code = EXIT_BAD_INPUT

    def show(self, file=None) -> None:
        click.echo(f"seqkit: error: {self.format_message()}", file=file or sys.stderr)


class RegistryChoice(click.ParamType):
    """A name from a registry: listed in help and completion, suggestion on a typo."""

    def __init__(self, reg: registry.Registry):
        self.reg = reg
        self.name = reg.kind

    def _names(self) -> list[str]:
        try:
            return self.reg.names()
        except SeqkitError:
            return []

    def get_metavar(self, *args, **kwargs) -> str:
        return "[" + "|".join(self._names()) + "]"

    def convert(self, value, param, ctx):
        try:
            self.reg.entry(value)
        except SeqkitError as exc:
            self.fail(str(exc), param, ctx)
        return value

    def shell_complete(self, ctx, param, incomplete):
        from click.shell_completion import CompletionItem

        return [CompletionItem(n, help=self.reg.help(n)) for n in self._names() if n.startswith(incomplete)]


def _parse_options(values: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """``-o cell.nonlinearity=relu`` -> {"cell": {"nonlinearity": "relu"}} (values as JSON if they parse)."""
    out: dict[str, dict[str, Any]] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        comp, dot, opt = key.partition(".")
        if not sep or not dot or comp not in {"dataset", "encoder", "collator", "cell", "task"} or not opt:
            raise CLIError(f"-o {item!r}: expected COMPONENT.OPTION=VALUE with COMPONENT one of dataset, "
                           f"encoder, collator, cell, task (e.g. -o cell.nonlinearity=relu)")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        out.setdefault(comp, {})[opt.replace("-", "_")] = value
    return out


def _load_plugins(ctx, param, values):
    for module in values or ():
        try:
            registry.import_plugin(module)
        except SeqkitError as exc:
            raise CLIError(str(exc)) from None
    return values


def _ops_backend() -> str | None:
    try:
        from . import ops  # noqa: F401  (present once the compiled ops exist)
    except ImportError:
        return None
    try:
        return ops.backend()
    except Exception as exc:  # reporting must not fail
        return f"unavailable ({exc})"


_ARGV: list[str] | None = None


def _run_args() -> list[str]:
    """The arguments of this ``seqkit run`` call, without ``--nproc`` (for the launcher)."""
    argv = list(_ARGV if _ARGV is not None else sys.argv[1:])
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--nproc":
            skip = True
            continue
        if arg.startswith("--nproc="):
            continue
        out.append(arg)
    return out


def build_cli() -> click.Group:
    """A fresh ``seqkit`` command group."""
    from .engine import BALANCE, OPTIMIZERS, PRECISIONS, SCHEDULES, RunConfig

    defaults = {f.name: f.default for f in fields(RunConfig) if not callable(f.default_factory)}

    @click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
    @click.version_option(__version__, prog_name="seqkit")
    @click.option("--plugin", "plugins_", multiple=True, metavar="MODULE", is_eager=True, expose_value=False,
                  callback=_load_plugins, help="Import MODULE as a plugin (repeatable), besides installed ones.")
    def cli():
        """seqkit: batched sequence models in PyTorch.

        Train a surname -> language classifier with `seqkit run`; list what plugins
        provide with `seqkit plugins`.
        """

    @cli.command()
    @click.option("--task", type=RegistryChoice(registry.tasks), default=defaults["task"], show_default=True,
                  help="What to train.")
    @click.option("--dataset", type=RegistryChoice(registry.datasets), default=defaults["dataset"],
                  show_default=True, help="Dataset plugin.")
    @click.option("--data", type=str, default=None, metavar="PATH",
                  help="Data file or directory (default: $SEQKIT_DATA, else the dataset's download).")
    @click.option("--encoder", type=RegistryChoice(registry.encoders), default=defaults["encoder"],
                  show_default=True, help="Text -> symbols.")
    @click.option("--collator", type=RegistryChoice(registry.collators), default=defaults["collator"],
                  show_default=True, help="Examples -> batch.")
    @click.option("--cell", type=RegistryChoice(registry.cells), default=defaults["cell"], show_default=True,
                  help="Recurrent cell.")
    @click.option("--hidden-size", type=int, default=defaults["hidden_size"], show_default=True)
    @click.option("--layers", type=int, default=defaults["layers"], show_default=True)
    @click.option("--bidirectional/--unidirectional", default=defaults["bidirectional"], show_default=True)
    @click.option("--dropout", type=float, default=defaults["dropout"], show_default=True,
                  help="Dropout between cell layers.")
    @click.option("--head-dropout", type=float, default=defaults["head_dropout"], show_default=True,
                  help="Dropout before the output head.")
    @click.option("--input-dropout", type=float, default=defaults["input_dropout"], show_default=True,
                  help="Dropout on the embedded input rows (learned embeddings; not one-hot).")
    @click.option("--embedding-dim", type=int, default=defaults["embedding_dim"], show_default=True,
                  help="Embedding width (index encoders).")
    @click.option("--epochs", type=int, default=defaults["epochs"], show_default=True)
    @click.option("--batch-size", type=int, default=defaults["batch_size"], show_default=True)
    @click.option("--lr", type=float, default=defaults["lr"], show_default=True, help="(Peak) learning rate.")
    @click.option("--optimizer", type=click.Choice(OPTIMIZERS), default=defaults["optimizer"], show_default=True)
    @click.option("--weight-decay", type=float, default=defaults["weight_decay"], show_default=True)
    @click.option("--momentum", type=float, default=defaults["momentum"], show_default=True, help="SGD momentum.")
    @click.option("--schedule", type=click.Choice(SCHEDULES), default=defaults["schedule"], show_default=True,
                  help="Learning-rate schedule (stepped per batch).")
    @click.option("--clip", type=float, default=defaults["clip"], show_default=True,
                  help="Clip the gradient norm to this value (0: off).")
    @click.option("--ema", type=float, default=defaults["ema"], show_default=True,
                  help="Evaluate and save an exponential moving average of the weights with this decay (0: off).")
    @click.option("--precision", type=click.Choice(PRECISIONS), default=defaults["precision"], show_default=True,
                  help="bf16: mixed precision (bfloat16 autocast for the matrix products and the fused GRU's "
                       "GEMMs; float32 weights, state and losses), fast where the CPU has bf16 instructions "
                       "(AVX512-BF16, AMX) or on CUDA; auto: bf16 there, else fp32.")
    @click.option("--label-smoothing", type=float, default=defaults["label_smoothing"], show_default=True)
    @click.option("--balance", type=click.Choice(BALANCE), default=defaults["balance"], show_default=True,
                  help="Class balancing: weighted sampler, weighted loss, or none.")
    @click.option("--bucket/--no-bucket", default=defaults["bucket"], show_default=True,
                  help="Length-bucketed batches (little padding).")
    @click.option("--test-size", type=float, default=defaults["test_size"], show_default=True)
    @click.option("--split-seed", type=int, default=defaults["split_seed"], show_default=True,
                  help="random_state of the stratified split (0: the course's split).")
    @click.option("--dedup", is_flag=True, default=False,
                  help="Drop duplicate pairs; keep each distinct text on one side of the split.")
    @click.option("--seed", type=int, default=defaults["seed"], show_default=True)
    @click.option("--device", type=str, default=defaults["device"], show_default=True, metavar="auto|cpu|cuda")
    @click.option("--workers", type=int, default=defaults["workers"], show_default=True,
                  help="DataLoader worker processes.")
    @click.option("--threads", type=int, default=None, help="torch intra-op threads (default: torch's).")
    @click.option("--on-bad-line", type=click.Choice(["error", "skip"]), default=defaults["on_bad_line"],
                  show_default=True, help="Bad data lines: stop with an error, or skip and report them.")
    @click.option("--nan-policy", type=click.Choice(["error", "skip"]), default=defaults["nan_policy"],
                  show_default=True, help="A non-finite loss or gradient: stop with an error, or skip the step "
                                          "and count it.")
    @click.option("--checkpoint-every", type=int, default=defaults["checkpoint_every"], show_default=True,
                  metavar="N", help="Also save the training state every N steps (0: after every epoch only).")
    @click.option("--resume", is_flag=True, default=False,
                  help="Continue the interrupted run in --out from its last saved state (same options).")
    @click.option("--overwrite", is_flag=True, default=False,
                  help="Replace a run that --out already holds (another configuration, or an interrupted run).")
    @click.option("--nproc", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
                  help="Data-parallel training in N processes on this machine (started as torchrun would; "
                       "--batch-size is per process).")
    @click.option("--beam", type=click.IntRange(min=1), default=None, metavar="K",
                  help="seq2seq: beam width of the evaluation decoding (1: greedy; default: the task's).")
    @click.option("--teacher-forcing", type=click.FloatRange(0.0, 1.0), default=None, metavar="RATIO",
                  help="seq2seq: probability of feeding the gold token to the decoder (default: the task's, 1.0).")
    @click.option("--attention/--no-attention", default=None,
                  help="seq2seq: Luong attention over the encoder outputs (default: the task's, on).")
    @click.option("-o", "--option", "options", multiple=True, metavar="COMPONENT.KEY=VALUE",
                  help="Extra option for a component's factory, e.g. -o cell.nonlinearity=relu or -o task.beam=5.")
    @click.option("--out", type=str, default=defaults["out"], show_default=True, metavar="DIR",
                  help="Run directory: metrics.json, history.jsonl, checkpoint.pt, loss.png, confusion.png.")
    @click.option("--quiet", is_flag=True, help="No progress bar or epoch lines.")
    @click.option("--json", "as_json", is_flag=True, help="Print the final metrics as JSON on stdout.")
    def run(options, as_json, clip, nproc, beam, teacher_forcing, attention, **kwargs):
        """Train and evaluate a model; write the run directory."""
        from click.core import ParameterSource

        from .engine import RunConfig, apply_task_defaults, train

        extra = _parse_options(options)
        flags = {"beam": beam, "teacher_forcing": teacher_forcing, "attention": attention}
        extra.setdefault("task", {}).update({k: v for k, v in flags.items() if v is not None})
        config = RunConfig(**kwargs, clip=clip or None,
                           **{f"{k}_options": v for k, v in extra.items()})
        ctx = click.get_current_context()
        explicit = {n for n in [*kwargs, "clip"] if ctx.get_parameter_source(n) is not ParameterSource.DEFAULT}
        if nproc > 1 and os.environ.get("WORLD_SIZE") is None:
            try:
                config.validate()
            except SeqkitError as exc:
                raise CLIError(str(exc)) from None
            from .launch import launch_torchrun

            sys.exit(launch_torchrun(nproc, _run_args()))
        try:
            config = apply_task_defaults(config, explicit)  # the task's defaults where the user set nothing
            metrics = train(config)
        except SeqkitError as exc:
            raise CLIError(str(exc)) from None
        except OSError as exc:
            raise CLIError(f"{exc.filename or config.out}: {exc.strerror}; choose another --out") from None
        if as_json:
            click.echo(json.dumps(metrics))
        elif not config.quiet:
            keys = registry.tasks.create(config.task, **config.task_options).summary_keys
            headline = {k: metrics[k] for k in keys if isinstance(metrics.get(k), (int, float))}
            click.echo("  ".join(f"{k} {v:.4f}" for k, v in headline.items())
                       + f"  train {metrics['train_seconds']:.1f}s  {metrics['names_per_second']:,.0f} names/s"
                       + f"  -> {config.out}")

    @cli.command("plugins")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    def plugins_cmd(as_json):
        """List registered names, the plugin that provides each, and plugin failures."""
        try:
            regs = registry.all_registries()
            data = {"plugins": [vars(p) for p in registry.plugins()], "registries": {}, "failures": []}
            infos = {p["name"]: p for p in data["plugins"]}
            for plural, reg in regs.items():
                data["registries"][plural] = [
                    {"name": e.name, "plugin": e.plugin, "version": (infos.get(e.plugin) or {}).get("version"),
                     "help": e.help} for e in reg.items()]
            data["failures"] = [{"plugin": f.plugin, "stage": f.stage, "error": f.error,
                                 "distribution": f.distribution, "version": f.version} for f in registry.failures()]
        except SeqkitError as exc:
            raise CLIError(str(exc)) from None
        data["commands"] = [{"name": n, "plugin": p} for n, p in
                            sorted(getattr(click.get_current_context().find_root().command, "plugin_commands",
                                           {}).items())]
        data["ops_backend"] = _ops_backend()
        if as_json:
            click.echo(json.dumps(data, indent=2))
            return
        for plural, entries in data["registries"].items():
            click.echo(f"{plural}:")
            for e in entries:
                ver = f" {e['version']}" if e["version"] else ""
                click.echo(f"  {e['name']:<14} {e['plugin'] + ver:<24} {e['help']}")
        click.echo("plugins: " + ", ".join(f"{p['name']} ({p['distribution'] or 'local'} {p['version'] or ''})".
                                            replace(" )", ")") for p in data["plugins"]))
        if data["commands"]:
            click.echo("commands: " + ", ".join(f"{c['name']} ({c['plugin']})" for c in data["commands"]))
        if data["ops_backend"]:
            click.echo(f"ops backend: {data['ops_backend']}")
        if data["failures"]:
            click.echo("failed plugins:")
            for f in data["failures"]:
                click.echo(f"  {f['plugin']} ({f['stage']}): {f['error']}")

    @cli.command()
    @click.option("--checkpoint", required=True, type=str, metavar="PATH", help="checkpoint.pt of a run.")
    @click.option("--top-k", type=click.IntRange(min=1), default=3, show_default=True)
    @click.option("--beam", type=click.IntRange(min=1), default=None, metavar="K",
                  help="seq2seq: beam width (1: greedy; default: the run's); shows up to --top-k hypotheses.")
    @click.option("--device", type=str, default="cpu", show_default=True, metavar="auto|cpu|cuda")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @click.argument("names", nargs=-1, required=True)
    def predict(checkpoint, top_k, beam, device, as_json, names):
        """Predict the class (or, for seq2seq, the output sequence) of each NAME with a trained checkpoint."""
        from .engine import load_run
        from .engine import predict as do_predict

        try:
            loaded = load_run(checkpoint, device=device)
            results = do_predict(loaded, list(names), top_k=top_k, **({} if beam is None else {"beam": beam}))
        except SeqkitError as exc:
            raise CLIError(str(exc)) from None
        if as_json:
            click.echo(json.dumps([{"text": n, "predictions": r} for n, r in zip(names, results)]))
            return
        width = max(len(n) for n in names)
        for name, preds in zip(names, results):
            click.echo(f"{name:<{width}}  " + loaded.task.format_prediction(preds))

    @cli.command("eval")
    @click.option("--checkpoint", required=True, type=str, metavar="PATH", help="checkpoint.pt of a run.")
    @click.option("--data", type=str, default=None, metavar="PATH",
                  help="Evaluate on all of PATH (default: the run's own test split).")
    @click.option("--device", type=str, default="cpu", show_default=True, metavar="auto|cpu|cuda")
    @click.option("--beam", type=click.IntRange(min=1), default=None, metavar="K",
                  help="seq2seq: beam width of the decoding (1: greedy; default: the run's).")
    @click.option("-o", "--option", "options", multiple=True, metavar="task.KEY=VALUE",
                  help="Override one of the run's task options, e.g. -o task.length_penalty=1.0.")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    def eval_cmd(checkpoint, data, device, beam, options, as_json):
        """Evaluate a trained checkpoint."""
        from .engine import evaluate_run, load_run

        extra = _parse_options(options)
        if set(extra) - {"task"}:
            raise CLIError(f"seqkit eval: -o takes task options only (task.KEY=VALUE), got "
                           f"{', '.join(sorted(set(extra) - {'task'}))}")
        task_options = {**extra.get("task", {}), **({"beam": beam} if beam is not None else {})}
        try:
            loaded = load_run(checkpoint, device=device, task_options=task_options)
            metrics = evaluate_run(loaded, data)
        except SeqkitError as exc:
            raise CLIError(str(exc)) from None
        if as_json:
            click.echo(json.dumps(metrics))
            return
        click.echo(f"evaluated on {metrics['evaluated_on']} ({metrics['examples']} examples)")
        for k in ("loss", *loaded.task.summary_keys):
            if isinstance(metrics.get(k), (int, float)):
                click.echo(f"  {k:<{max(9, len(k) + 1)}}{metrics[k]:.4f}")
        per_class = metrics.get("per_class") or {}
        if per_class:
            click.echo("  per class: " + ", ".join(f"{k} {v:.2f}" for k, v in per_class.items() if v is not None))

    @cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    @click.argument("which", type=click.Choice(["encode-pack", "gru", "train"]))
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def bench(which, args):
        """Run a benchmark of benchmarks/ (side by side, medians, ratios; --json PATH).

        WHICH: encode-pack (names/s), gru (fused GRU vs torch.nn.GRU), train (epochs).
        Extra ARGS go to the script, e.g. `seqkit bench train --epochs 3 --json out.json`.
        """
        import runpy

        script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks",
                              f"bench_{which.replace('-', '_')}.py")
        if not os.path.exists(script):
            raise CLIError(f"{script} not found: seqkit bench runs the benchmarks/ folder of a source checkout "
                           f"(pip install -e .)")
        sys.argv = [script, *args]
        try:
            runpy.run_path(script, run_name="__main__")
        except SystemExit as exc:
            if exc.code not in (None, 0):
                raise CLIError(f"benchmark {which} failed: {exc.code}") from None

    cli.plugin_commands = registry.manager.add_commands(cli)  # command name -> plugin
    return cli


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``seqkit`` console script."""
    try:
        cli = build_cli()
        if os.environ.get("SEQKIT_STRICT_PLUGINS", "").strip().lower() in {"1", "true", "yes", "on"}:
            registry.failures()  # load every plugin now: a failure is fatal, reported in one line
    except SeqkitError as exc:  # e.g. SEQKIT_STRICT_PLUGINS=1 and a broken plugin
        click.echo(f"seqkit: error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    global _ARGV
    _ARGV = list(argv) if argv is not None else None
    try:
        rv = cli.main(args=argv, prog_name="seqkit", standalone_mode=False)
    except click.UsageError as exc:  # bad usage: one line, status 2 (click would print three)
        where = f"seqkit {exc.ctx.info_name}" if exc.ctx is not None and exc.ctx.parent is not None else "seqkit"
        click.echo(f"seqkit: error: {exc.format_message()} (see `{where} --help`)", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("Aborted!", err=True)
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
