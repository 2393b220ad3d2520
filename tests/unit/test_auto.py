"""--cell auto / --collator auto: the compiled path where seqkit's ops load, torch's modules
(and one warning) where they do not; resolved before anything is saved."""
from __future__ import annotations

import warnings

import pytest

from conftest import cpp_available
from seqkit import registry
from seqkit.data import Encoder
from seqkit.engine import RunConfig, TaskContext, resolve_auto
from seqkit.engine.config import typed_component_options
from seqkit.errors import ConfigError
from seqkit.ops import runtime

needs_cpp = pytest.mark.skipif("not cpp_available()", reason="needs the compiled ops")


def _resolve(config: RunConfig) -> tuple[RunConfig, list[str], list[warnings.WarningMessage]]:
    """``resolve_auto(config)`` with the messages given to ``warn`` and any Python warnings."""
    told = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resolved = resolve_auto(config, warn=told.append)
    return resolved, told, list(caught)


def test_the_defaults_are_auto_and_the_cli_offers_it():
    from seqkit.cli import build_cli

    assert RunConfig().cell == "auto" and RunConfig().collator == "auto"
    run = build_cli().commands["run"]
    params = {p.name: p for p in run.params}
    for name in ("cell", "collator"):
        assert params[name].default == "auto"
        assert params[name].type.convert("auto", params[name], None) == "auto"  # accepted beside the registry
        assert "auto" in params[name].type.get_metavar(params[name])
    completions = [c.value for c in params["cell"].type.shell_complete(None, params["cell"], "a")]
    assert completions == ["auto"]


@needs_cpp
def test_auto_is_the_compiled_path_where_the_ops_load(monkeypatch):
    monkeypatch.setenv("SEQKIT_BACKEND", "auto")
    resolved, told, caught = _resolve(RunConfig(device="cpu"))
    assert (resolved.cell, resolved.collator) == ("fused-gru", "fused-pack")
    assert not told and not caught
    # only what is auto changes; the rest of the config is the same
    assert resolved == RunConfig(device="cpu", cell="fused-gru", collator="fused-pack")
    assert resolve_auto(resolved) is resolved  # concrete names: nothing to do, no backend asked


@needs_cpp
@pytest.mark.parametrize("given, expected", [
    ({"cell": "gru", "collator": "pack"}, ("gru", "pack")),              # the torch reference stays
    ({"cell": "lstm"}, ("lstm", "fused-pack")),                          # any cell takes fused-pack's batches
    ({"collator": "pad"}, ("fused-gru", "pad")),
    ({"encoder": "onehot"}, ("fused-gru", "fused-pack")),
    ({"device": "cuda"}, ("gru", "fused-pack")),                         # the CUDA GRU kernels are unverified
])
def test_auto_resolves_each_component_on_its_own(monkeypatch, given, expected):
    monkeypatch.setenv("SEQKIT_BACKEND", "auto")
    resolved, told, _ = _resolve(RunConfig(**{"device": "cpu", **given}))
    assert (resolved.cell, resolved.collator) == expected and not told


class _Syllables(Encoder):
    """An encoder whose symbols are not one per character: fused-pack cannot encode for it."""

    def encode(self, text: str) -> list[int]:
        return super().encode(text)[::2]


@needs_cpp
def test_auto_collator_is_pack_for_an_encoder_fused_pack_cannot_reproduce(monkeypatch):
    monkeypatch.setenv("SEQKIT_BACKEND", "auto")
    registry.encoders.register("syllables", lambda **o: _Syllables(None, **o))
    try:
        resolved, _, _ = _resolve(RunConfig(device="cpu", encoder="syllables"))
    finally:
        registry.encoders.unregister("syllables")
    assert (resolved.cell, resolved.collator) == ("fused-gru", "pack")


@needs_cpp
def test_auto_takes_torch_s_module_where_the_compiled_one_is_not_registered(monkeypatch, fresh_registry):
    """The ops load but the plugin registering fused-gru did not (it failed, say): gru, one line why."""
    monkeypatch.setenv("SEQKIT_BACKEND", "auto")
    fresh_registry.cells.unregister("fused-gru")
    resolved, told, caught = _resolve(RunConfig(device="cpu"))
    assert (resolved.cell, resolved.collator) == ("gru", "fused-pack") and not caught
    assert told == ["fused-gru not registered (plugin seqkit.fused did not load; `seqkit plugins` says why): this "
                    "run uses torch's nn.GRU (--cell gru), the same model, slower"]


def test_forced_reference_falls_back_to_torch_with_one_warning(monkeypatch):
    monkeypatch.setenv("SEQKIT_BACKEND", "reference")
    resolved, told, caught = _resolve(RunConfig())
    assert (resolved.cell, resolved.collator) == ("gru", "pack")
    assert len(told) == 1 and not caught
    line = told[0]
    assert "\n" not in line and "compiled ops unavailable (SEQKIT_BACKEND=reference)" in line
    assert "torch's nn.GRU and pack (--cell gru --collator pack)" in line
    assert "(fused-gru, fused-pack) unset SEQKIT_BACKEND" in line


def test_the_default_warning_is_one_runtime_warning(monkeypatch):
    monkeypatch.setenv("SEQKIT_BACKEND", "reference")
    with pytest.warns(RuntimeWarning) as caught:
        resolved = resolve_auto(RunConfig())
    assert [str(w.message).startswith("seqkit: compiled ops unavailable") for w in caught] == [True]
    assert caught[0].filename == __file__  # it points at the caller
    assert resolved.cell == "gru"


def test_only_rank_0_warns(monkeypatch):
    monkeypatch.setenv("SEQKIT_BACKEND", "reference")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    resolved, told, caught = _resolve(RunConfig())
    assert (resolved.cell, resolved.collator) == ("gru", "pack") and not told and not caught


def test_explicit_fused_components_are_named_in_the_warning(monkeypatch):
    monkeypatch.setenv("SEQKIT_BACKEND", "reference")
    resolved, told, _ = _resolve(RunConfig(cell="fused-gru"))
    assert (resolved.cell, resolved.collator) == ("fused-gru", "pack")
    assert len(told) == 1 and "uses pack (--collator pack)" in told[0]
    assert "fused-gru runs its pure-PyTorch reference" in told[0] and "(fused-pack)" in told[0]


def test_an_extension_that_does_not_load_gives_one_warning_in_all(monkeypatch):
    """No extension for real (the load fails as without a compiler): auto's line is the only
    warning, the ops' own one is not shown besides it, and it says how to get the fast path."""
    from seqkit.ops import extension

    monkeypatch.setenv("SEQKIT_BACKEND", "auto")
    for name, value in (("_ext", None), ("_ext_tried", False), ("_ext_reason", "")):
        monkeypatch.setattr(runtime, name, value)  # restored after the test
    monkeypatch.setattr(extension, "load", lambda: (None, "no C++ compiler ('c++') on PATH"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resolved = resolve_auto(RunConfig())
        assert runtime.backend() == "reference"  # later users of the ops (the optimizer) stay silent
    assert (resolved.cell, resolved.collator) == ("gru", "pack")
    assert len(caught) == 1, [str(w.message) for w in caught]
    message = str(caught[0].message)
    assert "compiled ops unavailable (no C++ compiler ('c++') on PATH)" in message
    assert "install a C++ compiler and ninja, then reinstall seqkit (pip install --no-build-isolation -e .)" in message


@pytest.mark.parametrize("value, message", [("bogus", "SEQKIT_BACKEND='bogus' is not one of"),
                                            ("cpp", "SEQKIT_BACKEND=cpp but the compiled ops are unavailable")])
def test_a_backend_that_cannot_be_served_is_a_config_error(monkeypatch, value, message):
    monkeypatch.setenv("SEQKIT_BACKEND", value)
    if value == "cpp":
        for name, val in (("_ext", None), ("_ext_tried", True), ("_ext_reason", "no seqkit._C")):
            monkeypatch.setattr(runtime, name, val)
    with pytest.raises(ConfigError, match=f"--cell/--collator auto: {message}"):
        resolve_auto(RunConfig())


def test_component_options_are_typed_once_auto_is_resolved(monkeypatch):
    monkeypatch.setenv("SEQKIT_BACKEND", "reference")
    config = RunConfig(cell_options={"dropout": "0.5"})
    assert typed_component_options(config).cell_options == {"dropout": "0.5"}  # auto: its factory is not known yet
    resolved, _, _ = _resolve(config)
    assert typed_component_options(resolved).cell_options == {"dropout": 0.5}  # make_gru's dropout: a float


def test_task_context_resolves_auto(monkeypatch):
    monkeypatch.setenv("SEQKIT_BACKEND", "reference")
    with pytest.warns(RuntimeWarning):
        ctx = TaskContext.from_config(RunConfig())
    assert ctx.cell == "gru" and not ctx.cell_takes_indices


def test_seq2seq_follows_auto(monkeypatch):
    """seq2seq declares no cell or collator of its own: it takes auto's choice too."""
    from seqkit.engine import apply_task_defaults

    config = apply_task_defaults(RunConfig(task="seq2seq"))
    assert (config.cell, config.collator) == ("auto", "auto") and config.dataset == "cmudict"
    monkeypatch.setenv("SEQKIT_BACKEND", "reference")
    resolved, told, _ = _resolve(config)
    assert (resolved.cell, resolved.collator) == ("gru", "pack") and len(told) == 1


def test_describe_says_what_runs_each_component(monkeypatch):
    from seqkit.engine.auto import describe

    monkeypatch.setenv("SEQKIT_BACKEND", "reference")
    assert describe(RunConfig(cell="gru", collator="pack"), "cpu") == {
        "cell": "gru", "cell_runs": "torch", "collator": "pack", "collator_runs": "torch", "backend": "reference"}
    path = describe(RunConfig(cell="fused-gru", collator="fused-pack"), "cpu")
    assert path["cell_runs"] == path["collator_runs"] == "pure-PyTorch reference"
    if cpp_available():
        monkeypatch.setenv("SEQKIT_BACKEND", "auto")
        path = describe(RunConfig(cell="fused-gru", collator="fused-pack"), "cpu")
        assert path["cell_runs"] == path["collator_runs"] == "compiled cpu kernels" and path["backend"] == "cpp"
