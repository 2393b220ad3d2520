"""Every `seqkit run` option refuses a value outside its declared range in one line with exit
status 2 and no traceback (property-based: the values come from each option's own
declaration), and -o values are typed the way people write them."""
from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from seqkit.cli import main
from seqkit.engine.config import RunConfig, plugin_options


def _declared():
    """Every run option with a range, choices or a check: the core ones and the plugins'."""
    opts = [o for o in RunConfig.options() if o.cli] + [o for _, _, o in plugin_options()]
    return [o for o in opts if o.type is not bool and (o.min is not None or o.max is not None or o.choices
                                                       or o.registry or o.validate)]


def _outside(opt) -> st.SearchStrategy:
    """Values that ``opt`` must refuse, written as a user would type them."""
    outs = []
    if opt.choices or opt.registry or opt.validate:
        known = set(opt.choices or ()) | {"auto", "cpu", "cuda", "classify", "seq2seq", "gru", "lstm", "rnn",
                                          "fused-gru", "pack", "pad", "fused-pack", "index", "onehot", "name2lang",
                                          "csv", "pairs", "cmudict"}
        outs.append(st.text(alphabet="abcdefghijklmnopqrstuvwxyz-:0123456789", min_size=1, max_size=12)
                    .filter(lambda s: s not in known and not (s.startswith("cuda:") and s[5:].isdigit())))
    if opt.min is not None:
        low = opt.min if opt.min_open else opt.min - (1 if opt.type is int else 1e-9)
        if opt.type is int:
            outs.append(st.integers(max_value=int(math.floor(low)), min_value=-(2**70)))
        else:
            outs.append(st.floats(max_value=low, allow_nan=False, allow_infinity=False)
                        .filter(lambda v: not (opt.zero_is_off and v == 0)))
    if opt.max is not None:
        high = opt.max if opt.max_open else opt.max + (1 if opt.type is int else 1e-9)
        outs.append(st.integers(min_value=int(math.ceil(high)), max_value=2**80) if opt.type is int else
                    st.floats(min_value=high, allow_nan=False, allow_infinity=False))
    if opt.type is float:
        outs.append(st.sampled_from([math.nan, math.inf]))
    return st.one_of(outs).map(str)


def _run(capsys, *argv) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    return exited.value.code, capsys.readouterr().err


@pytest.mark.parametrize("opt", _declared(), ids=lambda o: o.display)
def test_an_option_out_of_its_range_is_one_line_and_exit_2(opt, capsys):
    @settings(max_examples=6, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])
    @given(_outside(opt))
    def check(value):
        extra = ["--task", opt.owner] if opt.component == "task" and opt.owner else []
        code, err = _run(capsys, "run", *extra, opt.flags[0], value, "--data", "/nonexistent/never-read")
        assert code == 2, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("seqkit: error: ") and "Traceback" not in err, err
        assert opt.flags[0] in lines[0] or "Invalid value" in lines[0] or "unknown" in lines[0], err
        assert "/nonexistent" not in lines[0], "the value must be refused before the data is read"

    check()


@pytest.mark.parametrize("argv, words", [
    (["run", "--weight-decay", "-1"], "--weight-decay must be at least 0, got -1.0"),
    (["run", "--optimizer", "sgd", "--momentum", "-1"], "--momentum must be at least 0, got -1.0"),
    (["run", "--seed", "1180591620717411303424"], "--seed must be in [0, 9223372036854775807]"),
    (["run", "-o", "dataset.header=maybe", "--dataset", "csv"], "-o dataset.header takes true/false"),
    (["run", "--task", "seq2seq", "-o", "task.beam=many"], "--beam takes an integer, got 'many'"),
    (["run", "--beam", "3"], "--beam is an option of task 'seq2seq'"),
    (["predict", "--checkpoint", "x.pt", "--device", "tpu", "Nakamura"], "--device must be auto, cpu or cuda"),
    (["eval", "--checkpoint", "x.pt", "--device", "tpu"], "--device must be auto, cpu or cuda"),
])
def test_values_that_reached_torch_are_refused_in_one_line(argv, words, capsys):
    code, err = _run(capsys, *argv, *(["--data", "/nonexistent"] if argv[0] == "run" else []))
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
