"""``seqkit export``: a trained run as ONNX, TorchScript or a ``torch.export`` program
(:mod:`seqkit.engine.export`), with a JSON beside it that says how to feed it."""
from __future__ import annotations

import json

import click

from .params import CLIError, one_line_errors

FORMATS = ("onnx", "torchscript", "exported-program")


@click.command("export")
@click.option("--checkpoint", required=True, type=str, metavar="PATH", help="checkpoint.pt of a run.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="onnx", show_default=True,
              help="onnx (run it with onnxruntime), torchscript (torch.jit.load) or exported-program "
                   "(torch.export.load); none needs seqkit to run.")
@click.option("-o", "--output", required=True, type=str, metavar="PATH",
              help="Where to write, e.g. model.onnx; a JSON with the alphabet and the labels (or target "
                   "vocabulary) is written beside it, and a seq2seq run writes an .encoder and a .decoder file.")
@click.option("--json", "as_json", is_flag=True, help="Print the paths written as JSON.")
def export_command(checkpoint, fmt, output, as_json):
    """Export a trained checkpoint for use without seqkit (padded symbol indices and lengths in)."""
    import importlib.util

    missing = [m for m in ("onnx", "onnxscript") if fmt == "onnx" and importlib.util.find_spec(m) is None]
    if missing:
        raise CLIError(f"--format onnx needs the {' and '.join(missing)} package(s): pip install 'seqkit[export]'")
    from ..engine.export import export_run
    from ..engine.inference import load_run

    with one_line_errors(output, "choose another -o"):
        paths = export_run(load_run(checkpoint), fmt, output)
    if as_json:
        click.echo(json.dumps(paths))
        return
    for path in paths:
        click.echo(path)
