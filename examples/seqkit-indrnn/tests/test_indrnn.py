"""The IndRNN cell: seqkit's conformance suite, plus the IndRNN equations themselves."""
import pytest
import torch

from seqkit import registry
from seqkit.testing import CellConfig, check_cell, parametrize_checks
from seqkit_indrnn import IndRNN, make_indrnn


@parametrize_checks("cell", make_indrnn)
def test_conformance(check):
    check()


# Options reach the factory through `options`; `configs` narrows the option combinations.
@parametrize_checks("cell", make_indrnn, options={"nonlinearity": "tanh", "recurrent_max": 0.9}, hidden_size=3,
                    configs=[CellConfig("uni"), CellConfig("2layers-bi", num_layers=2, bidirectional=True)])
def test_conformance_tanh(check):
    check()


def test_registered_through_the_entry_point():
    assert "indrnn" in registry.cells
    assert registry.cells.plugin("indrnn") == "indrnn"
    report = check_cell("indrnn", configs=[CellConfig("bi", bidirectional=True)])  # by registered name
    assert report.ok and report["packed_matches_alone[bi]"].status == "passed"


def test_one_step_is_the_indrnn_equation():
    torch.manual_seed(0)
    cell = IndRNN(3, 4)
    x = torch.randn(2, 5, 3)
    h0 = torch.randn(1, 5, 4)
    out, h_n = cell(x, h0)
    h = h0[0]
    for t in range(2):
        h = torch.relu(x[t] @ cell.weight_ih_l0.T + cell.weight_hh_l0 * h + cell.bias_l0)
        torch.testing.assert_close(out[t], h)
    torch.testing.assert_close(h_n[0], h)


def test_recurrent_weights_are_a_vector_per_layer_and_direction():
    cell = IndRNN(3, 4, num_layers=2, bidirectional=True)
    assert cell.weight_hh_l1_reverse.shape == (4,)
    assert cell.weight_ih_l1.shape == (4, 8)


@pytest.mark.parametrize("bad", [dict(num_layers=0), dict(num_layers=2, dropout=1.0), dict(nonlinearity="gelu"),
                                 dict(recurrent_max=0)])
def test_bad_options_raise_value_error(bad):
    with pytest.raises(ValueError):
        make_indrnn(3, 4, **bad)
