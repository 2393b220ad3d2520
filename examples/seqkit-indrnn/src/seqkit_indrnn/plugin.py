"""The seqkit plugin: registers the ``indrnn`` cell and the ``lines`` dataset."""
from seqkit import hookimpl

from .cell import make_indrnn
from .lines import lines_dataset


@hookimpl
def seqkit_register_cells(register):
    register("indrnn", make_indrnn,
             help="IndRNN (Li et al. 2018): h_t = relu(W x_t + u * h_{t-1} + b); options nonlinearity, "
                  "recurrent_max")


@hookimpl
def seqkit_register_datasets(register):
    register("lines", lines_dataset, help="one 'text<TAB>label' per line (--data FILE), UTF-8")
