"""Built-in plugin ``seqkit.fused``: the ``fused-pack`` collator and the ``fused-gru`` cell.

Both run seqkit's compiled ops (``seqkit.ops``: C++ on CPU) and fall back to the
pure-PyTorch reference implementation, with one warning, where the extension cannot be
built; ``seqkit plugins`` shows which backend is active. The collator lives in
:mod:`.collator`; both are imported when first made, not when the plugin loads.
"""
from __future__ import annotations

from seqkit import hookimpl


def make_fused_gru(input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                   bidirectional: bool = False, **options):
    """:class:`seqkit.nn.FusedGRU`: nn.GRU's parameters and state_dict, fused kernels. Registered
    with the ``indices`` capability (one-hot input may arrive as symbol indices: a W_ih column
    gather) and the ``embedding`` one (``cell(indices, embedding=E)`` folds a learned embedding
    into the input projection: a gather of ``W_ih @ E^T``)."""
    from seqkit.nn.fused_gru import FusedGRU

    if num_layers == 1:
        dropout = 0.0
    return FusedGRU(input_size, hidden_size, num_layers=num_layers, dropout=dropout, bidirectional=bidirectional,
                    **options)


@hookimpl
def seqkit_register_collators(register):
    register("fused-pack", "seqkit_plugins.fused.collator:FusedPackCollator",
             help="raw strings -> PackedSequence in one C++ pass (seqkit.ops.encode_pack)")


@hookimpl
def seqkit_register_cells(register):
    register("fused-gru", make_fused_gru, capabilities={"indices", "embedding"},
             help="GRU with fused C++ forward/backward on packed batches; nn.GRU weights and state_dict")
