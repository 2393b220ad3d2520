"""Run options are declared once (seqkit.options.Option): RunConfig, validation, the CLI and
the plugins' own options (the seqkit_add_run_options hook) all come from the declarations."""
from __future__ import annotations

import types
from dataclasses import fields

import click
import pytest

from seqkit import hookimpl
from seqkit.engine.config import RunConfig, apply_task_defaults, plugin_options, run_control
from seqkit.errors import ConfigError
from seqkit.options import Option, parse_component_options


def test_every_runconfig_field_is_declared_once():
    declared = RunConfig.options()
    assert [o.name for o in declared] == [f.name for f in fields(RunConfig)]
    for opt in declared:  # the default of the declaration is the field's
        assert getattr(RunConfig(), opt.name) == opt.default
    assert set(run_control()) == {"out", "quiet", "workers", "threads", "device", "resume", "overwrite",
                                  "checkpoint_every", "task_defaults_applied"}


def test_the_run_command_is_generated_from_the_declarations(fresh_registry):
    from seqkit.cli import build_cli

    run = build_cli().commands["run"]
    cli_names = [p.name for p in run.params if isinstance(p, click.Option)]
    core = [o.name for o in RunConfig.options() if o.cli]
    plugin = [o.name for _, _, o in plugin_options()]
    assert cli_names == core + ["nproc"] + plugin + ["options", "as_json"]
    assert {"balance", "beam", "teacher_forcing", "attention"} <= set(plugin)
    defaults = {p.name: p.default for p in run.params}
    assert all(defaults[o.name] == o.default for o in RunConfig.options() if o.cli)


@pytest.mark.parametrize("name, value, words", [
    ("epochs", 0, "--epochs must be at least 1, got 0"),
    ("lr", 0.0, "--lr must be a positive number, got 0.0"),
    ("lr", float("nan"), "--lr must be a positive number"),
    ("dropout", 1.0, "--dropout must be in [0, 1), got 1.0"),
    ("test_size", 1.0, "--test-size must be between 0 and 1 (exclusive), got 1.0"),
    ("weight_decay", -1.0, "--weight-decay must be at least 0, got -1.0"),
    ("seed", 2**70, "--seed must be in [0, 9223372036854775807]"),
    ("optimizer", "rmsprop", "--optimizer must be one of adamw, adam, sgd, got 'rmsprop'"),
    ("device", "tpu", "--device must be auto, cpu or cuda, got 'tpu'"),
    ("threads", 0, "--threads must be >= 1, got 0"),
    ("hidden_size", 1.5, "--hidden-size takes an integer, got 1.5"),
    ("bidirectional", "no", "--bidirectional takes true or false, got 'no'"),
])
def test_a_value_out_of_range_is_one_line_naming_the_flag(name, value, words):
    with pytest.raises(ConfigError) as err:
        RunConfig(**{name: value}).validate()
    assert words in str(err.value) and "\n" not in str(err.value)


def test_values_in_range_pass():
    RunConfig(device="cuda:1", clip=None, threads=None, seed=2**63 - 1, ema=0.5).validate()


@pytest.mark.parametrize("raw, value", [("true", True), ("False", False), ("yes", True), ("no", False), ("1", True),
                                        ("0", False), ("ON", True), ("off", False)])
def test_booleans_parse_as_people_write_them(raw, value):
    assert Option("x", type=bool).parse(raw) is value


@pytest.mark.parametrize("raw", ["maybe", "2", ""])
def test_other_words_are_not_booleans(raw):
    with pytest.raises(ConfigError, match="takes true/false"):
        Option("x", type=bool).parse(raw)


def test_numbers_parse_or_say_what_they_need():
    assert Option("n", type=int).parse(" 12 ") == 12 and Option("f", type=float).parse("1e-3") == 1e-3
    with pytest.raises(ConfigError, match="--n takes an integer, got 'x'"):
        Option("n", type=int).parse("x")
    assert Option("t", type=int, nullable=True).parse("none") is None


def test_component_options_parse_and_refuse_what_is_not_one():
    assert parse_component_options(["cell.nonlinearity=relu", "task.beam=5", "task.x-y=[1, 2]"]) == \
        {"cell": {"nonlinearity": "relu"}, "task": {"beam": 5, "x_y": [1, 2]}}
    with pytest.raises(ConfigError, match="expected COMPONENT.OPTION=VALUE"):
        parse_component_options(["model.x=1"])


def test_task_defaults_are_applied_once_and_visibly():
    cfg = RunConfig.for_task("seq2seq", epochs=RunConfig().epochs)  # explicit, equal to the global default
    assert cfg.task_defaults_applied and cfg.dataset == "cmudict" and cfg.epochs == RunConfig().epochs
    again = apply_task_defaults(cfg, explicit={"epochs"})
    assert again == cfg
    assert RunConfig(task="seq2seq") == RunConfig(task="seq2seq", task_defaults_applied=True)  # not compared


def _options_plugin(declare):
    plugin = types.ModuleType("optplugin")

    @hookimpl
    def seqkit_add_run_options(add):
        declare(add)

    plugin.seqkit_add_run_options = seqkit_add_run_options
    return plugin


def test_a_plugin_option_reaches_its_component_and_is_range_checked(fresh_registry):
    fresh_registry.register_plugin(_options_plugin(lambda add: add(Option(
        "nonlinearity", choices=("tanh", "relu"), component="cell", owner="rnn",
        help="Elman nonlinearity (test option)."))))
    (opt,) = [o for _, plugin, o in plugin_options() if plugin == "optplugin"]
    assert opt.flags == ["--nonlinearity"]
    RunConfig(cell="rnn", cell_options={"nonlinearity": "relu"}).validate()
    with pytest.raises(ConfigError, match="--nonlinearity must be one of tanh, relu, got 'gelu'"):
        RunConfig(cell="rnn", cell_options={"nonlinearity": "gelu"}).validate()
    with pytest.raises(ConfigError, match="--nonlinearity is an option of cell 'rnn' .* this run's cell is 'gru'"):
        RunConfig(cell="gru", cell_options={"nonlinearity": "relu"}).validate()

    from seqkit.cli import build_cli

    ctx = click.Context(build_cli().commands["run"])
    run = ctx.command
    parsed = run.make_context("run", ["--cell", "rnn", "--nonlinearity", "relu"])
    assert parsed.params["nonlinearity"] == "relu"
    assert "Elman nonlinearity" in run.get_help(ctx)


def test_a_plugin_option_that_clashes_is_a_plugin_failure(fresh_registry):
    fresh_registry.register_plugin(_options_plugin(lambda add: add(Option("epochs", type=int, component="task"))))
    assert not [o for _, plugin, o in plugin_options() if plugin == "optplugin"]
    failure = next(f for f in fresh_registry.failures() if f.plugin == "optplugin")
    assert "option --epochs is already declared by seqkit" in failure.error
    assert failure.stage == "hook seqkit_add_run_options"
