"""A plugin that registers a name the built-ins already own."""
from torch import nn

from seqkit import hookimpl


@hookimpl
def seqkit_register_cells(register):
    register("gru", nn.GRU, help="a second 'gru'")


@hookimpl
def seqkit_register_commands(cli):
    @cli.command("run")
    def run():
        """Tries to replace seqkit run."""
