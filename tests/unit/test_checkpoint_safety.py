"""Checkpoints and run directories in-process (fast): the one-line messages for unsafe,
torn and foreign files, weights that do not fit, missing plugins; the run directory's
lock; a data fingerprint that covers the texts."""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch

from seqkit.engine.checkpoint import load, load_weights, run_components, weights_mismatch
from seqkit.engine.config import RunConfig
from seqkit.engine.inference import load_run
from seqkit.engine.rundir import LOCK_FILE, data_fingerprint, fingerprint_matches, lock_run_dir, prepare_run_dir
from seqkit.errors import CheckpointError, ConfigError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checkpoints"


def _fixture(name: str = "classify-0.1.0") -> dict:
    return torch.load(FIXTURES / f"{name}.pt", weights_only=True)


def _error(fn, *args, **kw) -> str:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(CheckpointError) as info:
            fn(*args, **kw)
    msg = str(info.value)
    assert "\n" not in msg, msg
    assert not [w for w in caught if "torch" in str(w.filename)], [str(w.message) for w in caught]
    return msg


# -- unsafe, torn, foreign files ---------------------------------------------------------
class _Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_an_unsafe_checkpoint_is_refused_in_one_line_without_running_it(tmp_path, monkeypatch, writer):
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil.pt"
    payload = {"format": "seqkit-checkpoint", "model": _Payload()}
    if writer == "pickle":
        evil.write_bytes(pickle.dumps(payload))
    else:
        torch.save(payload, evil)
    msg = _error(load, str(evil))
    assert msg == (f"{evil}: not a loadable seqkit checkpoint: it is not a safe seqkit checkpoint (it holds Python "
                   f"objects that would run code when loaded: posix.system); seqkit loads only plain tensors and "
                   f"values: do not load it with weights_only=False"), msg
    assert "Re-running" not in msg and "trusted source" not in msg
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("content, why", [(b"", "the file is empty"),
                                          (b"garbage" * 20, "not a checkpoint file: torn, or another format"),
                                          (b"PK\x03\x04" + b"\0" * 40, "")])
def test_torn_and_foreign_files_are_one_line(tmp_path, content, why):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(content)
    msg = _error(load, str(path))
    assert msg.startswith(f"{path}: not a loadable seqkit checkpoint (") and why in msg, msg
    assert "weights_only" not in msg


def test_a_plain_state_dict_is_not_a_seqkit_checkpoint(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(2)}, path)
    assert "not a seqkit checkpoint (no 'seqkit-checkpoint' marker)" in _error(load, str(path))


# -- weights that do not fit -------------------------------------------------------------
def _saved(tmp_path, ckpt: dict) -> str:
    path = tmp_path / "checkpoint.pt"
    torch.save(ckpt, path)
    return str(path)


def test_a_renamed_key_names_the_missing_and_unexpected_keys(tmp_path):
    ckpt = _fixture()
    ckpt["model"]["head.w"] = ckpt["model"].pop("head.weight")
    path = _saved(tmp_path, ckpt)
    msg = _error(load_run, path)
    assert msg.startswith(f"{path}: the weights do not fit the model: 1 missing key (head.weight), 1 unexpected "
                          f"(head.w); "), msg
    assert "retrain with `seqkit run`" in msg


def test_a_size_mismatch_names_the_key_and_both_shapes(tmp_path):
    ckpt = _fixture()
    ckpt["model"]["head.weight"] = torch.zeros(5, 16)
    msg = _error(load_run, _saved(tmp_path, ckpt))
    assert "size mismatch for head.weight: [5, 16] in the checkpoint, [18, 16] in the model;" in msg, msg


def test_seq2seq_weights_under_a_classify_config(tmp_path):
    ckpt = _fixture()
    ckpt["model"] = _fixture("seq2seq-0.1.0")["model"]
    msg = _error(load_run, _saved(tmp_path, ckpt))
    assert "11 missing keys (input_layer.embedding.weight, cell.weight_ih_l0, cell.weight_hh_l0, ...), " \
           "21 unexpected (source_embedding.weight, target_embedding.weight, encoder.weight_ih_l0, ...)" in msg, msg


def test_weights_mismatch_and_load_weights():
    module = torch.nn.Linear(3, 2)
    assert weights_mismatch(module.state_dict(), dict(module.state_dict())) is None
    assert weights_mismatch(module.state_dict(), {"weight": torch.zeros(2, 3)}) == "1 missing key (bias)"
    with pytest.raises(CheckpointError, match=r"^f\.pt: the weights do not fit the model: size mismatch for weight: "
                                              r"\[4, 3\] in the checkpoint, \[2, 3\] in the model; do this$"):
        load_weights(module, {"weight": torch.zeros(4, 3), "bias": torch.zeros(2)}, path="f.pt", fix="do this")


# -- plugins that are not installed ------------------------------------------------------
def test_a_missing_plugin_names_the_file_component_plugin_and_package(tmp_path):
    ckpt = _fixture()
    ckpt["config"]["cell"] = "indrnn"
    ckpt["components"] = {"cell": {"name": "indrnn", "plugin": "indrnn", "distribution": "seqkit-indrnn",
                                   "version": "0.1.0"}}
    path = _saved(tmp_path, ckpt)
    assert _error(load_run, path) == (f"{path} was trained with cell 'indrnn', which no installed plugin provides (it "
                                      f"came from plugin 'indrnn', package seqkit-indrnn 0.1.0); pip install it: pip "
                                      f"install seqkit-indrnn==0.1.0")


def test_a_missing_plugin_in_an_old_checkpoint_is_still_one_clear_line(tmp_path):
    ckpt = _fixture()
    ckpt["encoder"]["name"] = ckpt["config"]["encoder"] = "fancy"
    path = _saved(tmp_path, ckpt)
    assert _error(load_run, path) == (f"{path} was trained with encoder 'fancy', which no installed plugin provides; "
                                      f"install the plugin that provides it (`seqkit plugins` lists what is "
                                      f"installed)")


def test_eval_names_a_missing_dataset_plugin(tmp_path):
    from seqkit.engine.inference import evaluate_run

    ckpt = _fixture()
    ckpt["config"]["dataset"] = "regions"
    ckpt["components"] = {"dataset": {"name": "regions", "plugin": "geo", "distribution": "seqkit-geo",
                                      "version": "2.0"}}
    path = _saved(tmp_path, ckpt)
    loaded = load_run(path)  # predicting needs no dataset
    with pytest.raises(CheckpointError, match=rf"^{path} was trained with dataset 'regions', which no installed plugin "
                                              rf"provides \(it came from plugin 'geo', package seqkit-geo 2\.0\)"):
        evaluate_run(loaded)


def test_components_record_plugin_and_package():
    found = run_components(RunConfig(cell="gru", collator="pack"))
    assert list(found) == ["dataset", "encoder", "collator", "cell", "task"]
    assert found["cell"] == {"name": "gru", "plugin": "seqkit.cells", "distribution": "seqkit",
                             "version": found["cell"]["version"]}
    assert found["task"]["plugin"] == "seqkit.classify" and found["cell"]["version"]


@pytest.mark.parametrize("name", ["classify-0.1.0", "classify-fused-onehot-0.1.0", "seq2seq-0.1.0"])
def test_0_1_checkpoints_still_load(name):
    loaded = load_run(str(FIXTURES / f"{name}.pt"))
    assert loaded.path.endswith(f"{name}.pt") and loaded.components == {}


# -- the lock ------------------------------------------------------------------------------
def test_the_lock_refuses_a_second_owner_naming_the_first(tmp_path):
    out = str(tmp_path / "out")
    lock = lock_run_dir(out)
    try:
        owner = json.loads((tmp_path / "out" / LOCK_FILE).read_text())
        assert owner["pid"] == os.getpid() and owner["command"] == "seqkit run"
        with pytest.raises(ConfigError, match=rf"^--out {out} is in use by seqkit run \(pid {os.getpid()}\) since "
                                              rf"\S+ \S+; wait for it or choose another --out$"):
            lock_run_dir(out)
    finally:
        lock.release()
    assert not (tmp_path / "out").exists(), "a directory the run created and left empty is removed"
    lock_run_dir(out).release()


HOLDER = textwrap.dedent('''
    import sys, time
    from seqkit.engine.rundir import lock_run_dir
    lock = lock_run_dir(sys.argv[1])
    print("locked", flush=True)
    time.sleep(60)
''')


def test_the_lock_is_held_by_another_process_until_it_dies(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ConfigError, match=rf"is in use by seqkit run \(pid {holder.pid}\)"):
            lock_run_dir(str(out))
    finally:
        holder.kill()  # SIGKILL: the lock file stays, the lock goes with the process
        holder.wait()
    assert json.loads((out / LOCK_FILE).read_text())["pid"] == holder.pid
    lock = lock_run_dir(str(out))
    assert lock.held
    lock.release()
    assert out.is_dir(), "a directory that existed before stays"


def test_a_file_as_out_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match="exists and is not a directory"):
        lock_run_dir(str(tmp_path / "f"))


# -- what --out may hold -------------------------------------------------------------------
def test_leftovers_of_a_run_that_never_saved_are_not_foreign_files(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / LOCK_FILE).write_text('{"pid": 1}')
    (out / ".tmp-abc").write_bytes(b"partial")
    (out / "history.jsonl").write_text("")
    assert prepare_run_dir(RunConfig(out=str(out))) is None
    (out / "history.jsonl").write_text('{"epoch": 1}\n')
    with pytest.raises(ConfigError, match=r"holds files that are not a seqkit run \(history\.jsonl\)"):
        prepare_run_dir(RunConfig(out=str(out)))
    (out / "sub").mkdir()
    with pytest.raises(ConfigError, match=r"\(history\.jsonl, sub/\); choose another --out, or pass --overwrite"):
        prepare_run_dir(RunConfig(out=str(out), resume=True))
    assert prepare_run_dir(RunConfig(out=str(out), overwrite=True)) is None
    assert (out / "history.jsonl").exists() and (out / "sub").is_dir()


# -- the data fingerprint ------------------------------------------------------------------
def _pairs(texts, labels=None):
    from seqkit.data.dataset import PairDataset

    labels = labels or ["A" if i % 2 else "B" for i in range(len(texts))]
    ds = PairDataset(texts, labels)
    return ds.subset(range(0, len(texts) - 2)), ds.subset(range(len(texts) - 2, len(texts)))


def test_the_fingerprint_covers_the_texts():
    base = ["Abe", "Sato", "Ivanov", "Petrov", "Ono", "Oda"]
    fp = data_fingerprint(*_pairs(base))
    assert fp.startswith("v2:") and fp == data_fingerprint(*_pairs(list(base)))
    swapped = ["Aeb", *base[1:]]  # the same characters, lengths and labels
    new_char = ["Ab\u0416", *base[1:]]  # a character no text had
    other_same_table = ["Abe", "Sato", "Ivanov", "Petrov", "Ono", "Ado"]
    for texts in (swapped, new_char, other_same_table):
        assert data_fingerprint(*_pairs(texts)) != fp, texts


def test_the_fingerprint_covers_seq2seq_texts_and_targets():
    from seqkit_plugins.seq2seq.datasets import SequencePairs

    def split(texts, targets):
        ds = SequencePairs(texts, targets)
        return ds.subset([0, 1, 2]), ds.subset([3])

    texts, targets = ["ab", "cd", "ef", "gh"], [("A", "B"), ("C",), ("E", "F"), ("G",)]
    fp = data_fingerprint(*split(texts, targets))
    assert fp == data_fingerprint(*split(list(texts), list(targets)))
    assert data_fingerprint(*split(["ba", *texts[1:]], targets)) != fp
    assert data_fingerprint(*split(texts, [("A", "X"), *targets[1:]])) != fp
    assert data_fingerprint(*split(texts, [("A B",), *targets[1:]])) != fp


def test_a_fingerprint_from_before_the_texts_were_covered_still_matches():
    from seqkit.engine.rundir import _legacy_fingerprint

    train, test = _pairs(["Abe", "Sato", "Ivanov", "Petrov", "Ono", "Oda"])
    fp = data_fingerprint(train, test)
    assert fingerprint_matches(fp, fp, train, test)
    assert fingerprint_matches(_legacy_fingerprint(train, test), fp, train, test)
    assert not fingerprint_matches("0" * 64, fp, train, test) and not fingerprint_matches(None, fp, train, test)
