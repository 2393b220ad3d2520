"""seqkit-indrnn: an IndRNN cell (``indrnn``) and a ``lines`` dataset for seqkit.

The plugin module seqkit loads is :mod:`seqkit_indrnn.plugin` (see pyproject.toml).
"""
from .cell import IndRNN, make_indrnn
from .lines import lines_dataset

__version__ = "0.1.0"
__all__ = ["IndRNN", "make_indrnn", "lines_dataset", "__version__"]
