"""The registries and the plugin contract, in-process (installed plugins: test_installed_plugin.py)."""
from __future__ import annotations

import subprocess
import sys
import types

import pytest
from torch import nn

from seqkit import hookimpl
from seqkit.errors import DuplicateNameError, PluginError, RegistryError, UnknownNameError


def plugin_module(name: str, **hooks) -> types.ModuleType:
    mod = types.ModuleType(name)
    for hook, fn in hooks.items():
        setattr(mod, hook, hookimpl(fn))
    return mod


def test_builtin_names_and_api(fresh_registry):
    reg = fresh_registry
    assert {"rnn", "lstm", "gru"} <= set(reg.cells.names())
    assert {"name2lang", "csv"} <= set(reg.datasets.names())
    assert {"onehot", "index"} <= set(reg.encoders.names())
    assert {"pad", "pack"} <= set(reg.collators.names())
    assert "classify" in reg.tasks
    assert reg.cells.names() == sorted(reg.cells.names())
    assert "gru" in reg.cells and "nope" not in reg.cells
    assert reg.cells.plugin("gru") == "seqkit.cells"
    assert "GRU" in reg.cells.help("gru")
    cell = reg.cells.create("gru", input_size=5, hidden_size=7, num_layers=2, bidirectional=True)
    assert isinstance(cell, nn.GRU) and cell.num_layers == 2 and cell.bidirectional
    assert callable(reg.cells.get("lstm"))


def test_unknown_name_suggests_closest_and_lists_available(fresh_registry):
    with pytest.raises(UnknownNameError) as info:
        fresh_registry.cells.get("grux")
    msg = str(info.value)
    assert msg.startswith("unknown cell 'grux'; did you mean 'gru'? available: ")
    for name in fresh_registry.cells.names():
        assert name in msg
    assert isinstance(info.value, KeyError)  # also catchable as a lookup error
    with pytest.raises(UnknownNameError, match="did you mean 'lstm'"):
        fresh_registry.cells.create("LSTM", input_size=1, hidden_size=1)
    with pytest.raises(UnknownNameError) as info:
        fresh_registry.datasets.get("zzzzzz")
    assert "did you mean" not in str(info.value)


def test_duplicate_from_code_names_both_owners(fresh_registry):
    with pytest.raises(DuplicateNameError, match="'gru' is registered twice: by plugin 'seqkit.cells' and by "
                                                  "plugin '<user>'"):
        fresh_registry.cells.register("gru", nn.GRU)


def test_duplicate_from_plugin_is_reported_and_first_owner_kept(fresh_registry):
    mod = plugin_module("dupe_plugin", seqkit_register_cells=lambda register: register("lstm", nn.GRU))
    fresh_registry.register_plugin(mod)
    assert fresh_registry.cells.get("lstm").__name__ == "make_lstm"
    failures = fresh_registry.failures()
    assert len(failures) == 1
    assert failures[0].plugin == "dupe_plugin" and "seqkit.cells" in failures[0].error


def test_register_from_user_code_and_plugin_attribution(fresh_registry):
    fresh_registry.cells.register("my-gru", nn.GRU, help="mine")
    assert fresh_registry.cells.plugin("my-gru") == "<user>"
    assert fresh_registry.cells.help("my-gru") == "mine"
    mod = plugin_module("extra_cells", seqkit_register_cells=lambda register: register("x-rnn", nn.RNN, help="x"))
    info = fresh_registry.register_plugin(mod)
    assert info.name == "extra_cells"
    assert fresh_registry.cells.plugin("x-rnn") == "extra_cells"
    fresh_registry.cells.unregister("my-gru")
    assert "my-gru" not in fresh_registry.cells


@pytest.mark.parametrize("name", ["", "has space", "-lead", None, 3])
def test_invalid_names_rejected(fresh_registry, name):
    with pytest.raises(RegistryError, match="invalid cell name"):
        fresh_registry.cells.register(name, nn.GRU)


def test_non_callable_factory_rejected(fresh_registry):
    with pytest.raises(RegistryError, match="not callable"):
        fresh_registry.cells.register("thing", 42)


def test_hook_error_isolated_and_named(fresh_registry):
    def boom(register):
        register("half", nn.GRU)
        raise RuntimeError("no network")

    fresh_registry.register_plugin(plugin_module("flaky", seqkit_register_cells=boom))
    assert "gru" in fresh_registry.cells  # the others keep working
    (failure,) = fresh_registry.failures()
    assert failure.plugin == "flaky" and failure.stage == "hook seqkit_register_cells"
    assert failure.error == "RuntimeError: no network"
    assert "flaky" in str(failure)


def test_strict_mode_makes_hook_failure_fatal(fresh_registry, monkeypatch):
    monkeypatch.setenv("SEQKIT_STRICT_PLUGINS", "1")
    fresh_registry.cells.names()

    def boom(register):
        raise RuntimeError("no network")

    with pytest.raises(PluginError, match="plugin 'flaky'.*no network.*SEQKIT_STRICT_PLUGINS"):
        fresh_registry.register_plugin(plugin_module("flaky", seqkit_register_cells=boom))


def test_factory_errors_name_the_plugin(fresh_registry):
    def bad_factory(**kw):
        raise RuntimeError("weights missing")

    fresh_registry.register_plugin(plugin_module(
        "badfactory", seqkit_register_cells=lambda register: register("bad", bad_factory)))
    with pytest.raises(PluginError, match=r"cell 'bad' \(plugin 'badfactory'\) failed: RuntimeError: weights missing"):
        fresh_registry.cells.create("bad")
    with pytest.raises(PluginError, match="rejected its options"):
        fresh_registry.cells.create("gru", input_size=1, hidden_size=1, colour="blue")


def test_factory_refusals_pass_through(fresh_registry):
    def refuses(**kw):
        raise NotImplementedError("no bidirectional")

    fresh_registry.cells.register("refuses", refuses)
    with pytest.raises(NotImplementedError):
        fresh_registry.cells.create("refuses")


def test_invalid_hook_signature_is_a_registration_error(fresh_registry):
    mod = plugin_module("wrongsig", seqkit_register_cells=lambda reg, extra: None)
    with pytest.raises(PluginError, match="wrongsig"):
        fresh_registry.register_plugin(mod)


def test_load_order_builtins_first_sorted(fresh_registry):
    names = [p.name for p in fresh_registry.plugins()]
    builtin = [p.name for p in fresh_registry.plugins() if p.builtin]
    assert builtin == sorted(builtin) == names[:len(builtin)]
    assert {"seqkit.cells", "seqkit.classify", "seqkit.collators", "seqkit.encoders", "seqkit.fused",
            "seqkit.seq2seq"} <= set(builtin)
    assert all(name.startswith("seqkit.") for name in builtin)


@pytest.mark.slow
def test_import_is_lazy():
    code = ("import sys, seqkit; from seqkit import registry; "
            "print(int('torch' in sys.modules), int(registry.manager._loaded)); "
            "registry.cells.names(); print(int(registry.manager._loaded))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["0", "0", "1"]


def test_every_registry_hook_reaches_its_registry(fresh_registry):
    """One plugin implementing every registry hook: each name lands in its own registry."""
    def factory(*args, **kwargs):
        return (args, kwargs)

    mod = plugin_module(
        "all_hooks",
        seqkit_register_datasets=lambda register: register("ds-x", factory, help="d"),
        seqkit_register_encoders=lambda register: register("enc-x", factory, help="e"),
        seqkit_register_collators=lambda register: register("col-x", factory, help="c"),
        seqkit_register_cells=lambda register: register("cell-x", factory, help="l"),
        seqkit_register_tasks=lambda register: register("task-x", factory, help="t"),
    )
    fresh_registry.register_plugin(mod)
    regs = fresh_registry.all_registries()
    for plural, name in [("datasets", "ds-x"), ("encoders", "enc-x"), ("collators", "col-x"), ("cells", "cell-x"),
                         ("tasks", "task-x")]:
        assert regs[plural].plugin(name) == "all_hooks"
        assert regs[plural].create(name, 1, k=2) == ((1,), {"k": 2})
        others = [r for p, r in regs.items() if p != plural]
        assert all(name not in r for r in others)
    assert not fresh_registry.failures()


def test_capabilities_and_task_defaults_are_declared_where_the_factory_is_registered(fresh_registry):
    assert fresh_registry.cells.entry("fused-gru").can("indices")
    assert not fresh_registry.cells.entry("gru").capabilities
    assert fresh_registry.tasks.entry("seq2seq").defaults["dataset"] == "cmudict"
    assert not fresh_registry.tasks.entry("classify").defaults
    fresh_registry.cells.register("gather-gru", lambda **kw: None, capabilities={"indices"})
    assert fresh_registry.cells.entry("gather-gru").capabilities == {"indices"}
    with pytest.raises(RegistryError, match="declares unknown capabilities telepathy .*can declare: embedding, indices"):
        fresh_registry.cells.register("odd", lambda **kw: None, capabilities={"telepathy"})
    with pytest.raises(RegistryError, match="encoder 'odd' .* declares unknown capabilities indices .*none"):
        fresh_registry.encoders.register("odd", lambda **kw: None, capabilities="indices")
    with pytest.raises(RegistryError, match="only tasks may"):
        fresh_registry.cells.register("odd", lambda **kw: None, defaults={"epochs": 3})


def test_a_module_attribute_target_is_imported_on_first_use(fresh_registry, tmp_path, monkeypatch):
    pkg = tmp_path / "lazyplug.py"
    pkg.write_text("IMPORTED = True\ndef make(**kw):\n    return ('made', kw)\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    fresh_registry.datasets.register("lazy", "lazyplug:make", help="imported when first made")
    assert "lazyplug" not in sys.modules and fresh_registry.datasets.help("lazy") == "imported when first made"
    assert fresh_registry.datasets.create("lazy", path="x") == ("made", {"path": "x"})
    assert "lazyplug" in sys.modules and fresh_registry.datasets.get("lazy") is sys.modules["lazyplug"].make
    fresh_registry.datasets.register("missing", "lazyplug_nowhere:make")
    with pytest.raises(PluginError, match=r"dataset 'missing' \(plugin '<user>'\) could not be imported from "
                                          r"lazyplug_nowhere:make: ModuleNotFoundError"):
        fresh_registry.datasets.create("missing")
    with pytest.raises(RegistryError, match="is not a 'module:attribute' path"):
        fresh_registry.datasets.register("bad", "not a path")
