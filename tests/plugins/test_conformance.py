"""seqkit.testing: every built-in component passes the conformance suite (one test case
per check), and the suite catches broken components with a message naming the check."""
from __future__ import annotations

import json
import re
import os
import random
import subprocess
import sys
import unittest

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pack_sequence, pad_packed_sequence, pad_sequence

from seqkit import registry
from seqkit.data.batch import Batch, Collator
from seqkit.data import PairDataset
from seqkit.data.encoding import Encoder
from seqkit.engine.task import Task
from seqkit.errors import DataError, SeqkitError
from seqkit.testing import (CELL_CONFIGS, KINDS, CellConfig, CheckSkipped, ConformanceError, Report, cell_checks,
                            check_cell, check_collator, check_component, check_dataset, check_encoder, check_names,
                            check_task, checks, parametrize_checks, run_check, task_checks)
from seqkit_plugins.classify.task import ClassifyTask
from seqkit_plugins.fused import make_fused_gru
from seqkit_plugins.seq2seq.datasets import SequencePairs


def _builtin(reg) -> list[str]:
    """Names registered by seqkit's own plugins (distribution ``seqkit``)."""
    builtin = {p.name for p in registry.plugins() if p.builtin}
    return [n for n in reg.names() if reg.plugin(n) in builtin]


CELLS = _builtin(registry.cells)
COLLATORS = _builtin(registry.collators)
ENCODERS = _builtin(registry.encoders)


def test_builtins_are_found():
    assert {"gru", "lstm", "rnn"} <= set(CELLS)
    assert {"pad", "pack"} <= set(COLLATORS) and {"onehot", "index"} <= set(ENCODERS)


# -- every built-in passes --------------------------------------------------------------
@parametrize_checks("cell", CELLS)
def test_builtin_cell(check):
    check()


@parametrize_checks("encoder", ENCODERS)
def test_builtin_encoder(check):
    check()


_FIT = ["Nakamura", "Ó Briain", "李", "Дмитриевич", "Zoë", "x", "Müller-Lüdenscheidt", "Abe"]


@pytest.mark.parametrize("check", [
    pytest.param(check, id=f"{col}+{enc}-{name}")
    for col in COLLATORS for enc in ENCODERS
    for name, check in checks("collator", col, encoder=registry.encoders.create(enc).fit(_FIT))])
def test_builtin_collator(check):
    check()


@pytest.mark.parametrize("name", check_names("dataset"))
def test_builtin_dataset_name2lang(name, names_path):
    run_check("dataset", "name2lang", name, path=str(names_path))


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("csv") / "pairs.csv"
    path.write_text('text,label\nNakamura,Japanese\n"Smith, Jr.",English\nМюллер,Russian\n王小明,Chinese\n'
                    'Zoë,French\n\nO\'Neill,Irish\nAbe,Japanese\n', encoding="utf-8")
    return path


@pytest.mark.parametrize("name", check_names("dataset"))
def test_builtin_dataset_csv(name, small_csv):
    run_check("dataset", "csv", name, path=str(small_csv))


# -- the API ------------------------------------------------------------------------------
def test_check_functions_return_reports():
    report = check_cell("gru", configs=CELL_CONFIGS[:2])
    assert isinstance(report, Report) and report.ok
    assert report["packed_matches_alone[bi]"].status == "passed"
    cuda = report["to_cuda[uni]"]
    assert cuda.status == ("passed" if torch.cuda.is_available() else "skipped")
    if not torch.cuda.is_available():
        assert cuda.reason == "needs CUDA"
    assert "passed" in str(report) and "skipped" in str(report)
    assert check_encoder("index").ok and check_collator("pad").ok


def test_parametrize_ids_are_check_names():
    one = parametrize_checks("encoder", "index").mark
    assert one.args[0] == "check"
    assert [p.id for p in one.args[1]] == check_names("encoder")
    many = parametrize_checks("cell", ["gru", "rnn"], configs=[CellConfig("uni")]).mark
    ids = [p.id for p in many.args[1]]
    assert "gru-packed_matches_alone[uni]" in ids and "rnn-gradients[uni]" in ids
    assert len(ids) == len(set(ids)) == 2 * len(check_names("cell", configs=[CellConfig("uni")]))


def test_error_and_skip_types():
    assert issubclass(ConformanceError, SeqkitError) and issubclass(ConformanceError, AssertionError)
    assert issubclass(CheckSkipped, unittest.SkipTest)  # unittest runners skip it too


def test_unknown_kind_and_check():
    with pytest.raises(ValueError, match="kind must be one of"):
        checks("model", "gru")
    with pytest.raises(KeyError, match="no cell check named"):
        run_check("cell", "gru", "nope")


# -- cells that break the contract are caught ------------------------------------------
class _Wrapped(nn.Module):
    """A correct cell (a torch GRU inside); subclasses break one thing."""

    def __init__(self, input_size, hidden_size, num_layers=1, dropout=0.0, bidirectional=False):
        super().__init__()
        self.gru = nn.GRU(input_size, hidden_size, num_layers=num_layers, dropout=dropout,
                          bidirectional=bidirectional)

    def forward(self, x, h0=None):
        return self.gru(x, h0)


class SortedHn(_Wrapped):
    def forward(self, x, h0=None):
        out, h = self.gru(x, h0)
        if isinstance(x, PackedSequence):
            h = h.index_select(1, x.sorted_indices)  # forgets to restore the caller's order
        return out, h


class IgnoresH0(_Wrapped):
    def forward(self, x, h0=None):
        return self.gru(x)


class ReadsPadding(_Wrapped):
    def forward(self, x, h0=None):
        if isinstance(x, PackedSequence):  # runs over the padded steps as if they were data
            padded, lengths = pad_packed_sequence(x)
            out, h = self.gru(padded, h0)
            return pack_padded_sequence(out, lengths, enforce_sorted=False), h
        return self.gru(x, h0)


class UnusedParameter(_Wrapped):
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.forgotten = nn.Parameter(torch.zeros(3))


class PlainTensorWeight(_Wrapped):
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.scale = torch.rand(1) + 0.5  # not a parameter or buffer: not in the state_dict

    def forward(self, x, h0=None):
        out, h = self.gru(x, h0)
        if isinstance(out, PackedSequence):
            out = PackedSequence(out.data * self.scale, out.batch_sizes, out.sorted_indices, out.unsorted_indices)
        else:
            out = out * self.scale
        return out, h * self.scale


class UnseededInit(_Wrapped):
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        rng = random.Random()  # seeded from the OS, not from torch
        with torch.no_grad():
            for p in self.gru.parameters():
                p.add_(rng.random())


class IgnoresDropout(_Wrapped):
    def __init__(self, input_size, hidden_size, num_layers=1, dropout=0.0, bidirectional=False):
        super().__init__(input_size, hidden_size, num_layers=num_layers, dropout=0.0, bidirectional=bidirectional)


class Float32Only(_Wrapped):
    def forward(self, x, h0=None):
        self.gru.float()
        if isinstance(x, PackedSequence):
            x = PackedSequence(x.data.float(), x.batch_sizes, x.sorted_indices, x.unsorted_indices)
        return self.gru(x.float() if isinstance(x, torch.Tensor) else x, h0)


UNI_BI = (CellConfig("uni"), CellConfig("bi", bidirectional=True))


@pytest.mark.parametrize("cell, check, words", [
    (SortedHn, "packed_matches_alone[uni]", ["caller's order", "sorted"]),
    (IgnoresH0, "initial_state[uni]", ["ignores h0"]),
    (ReadsPadding, "packed_matches_alone[uni]", ["differs from running that sequence alone"]),
    (UnusedParameter, "gradients[uni]", ["forgotten", "no gradient"]),
    (PlainTensorWeight, "state_dict_roundtrip[uni]", ["identical outputs"]),
    (UnseededInit, "seeded_determinism[uni]", ["same torch seed"]),
    (IgnoresDropout, "dropout_between_layers", ["dropout is ignored"]),
    (Float32Only, "to_float64[uni]", ["dtype", "float64"]),
], ids=lambda v: v.__name__ if isinstance(v, type) else None)
def test_broken_cells_are_caught(cell, check, words):
    with pytest.raises(ConformanceError) as info:
        check_cell(cell, configs=UNI_BI)
    err = info.value
    failed = [name for name, _ in err.failures]
    assert check in failed, failed
    message = dict(err.failures)[check]
    assert f"'{check}'" in message and cell.__name__ in message
    for word in words:
        assert word in message, message
    assert check in str(err)


def test_sorted_h_n_fails_batch_order_too():
    report = check_cell(SortedHn, configs=UNI_BI, raise_on_failure=False)
    failed = {r.name for r in report.failed}
    assert {"batch_order[uni]", "batch_order[bi]", "initial_state[uni]"} <= failed
    assert report["shapes_packed[uni]"].status == "passed"


def _refuses(input_size, hidden_size, num_layers=1, dropout=0.0, bidirectional=False):
    if bidirectional:
        raise NotImplementedError("one direction only")
    if num_layers != 1:
        raise ValueError("one layer only")
    return _Wrapped(input_size, hidden_size)


def test_refused_options_are_skipped_not_failed():
    report = check_cell(_refuses)  # does not raise
    assert report.ok
    skipped = {r.name: r.reason for r in report.skipped}
    assert "NotImplementedError: one direction only" in skipped["packed_matches_alone[bi]"]
    assert "bidirectional=True" in skipped["packed_matches_alone[bi]"]
    assert "ValueError: one layer only" in skipped["gradients[2layers]"]
    assert "dropout_between_layers" in skipped
    assert report["packed_matches_alone[uni]"].status == "passed"


def test_refused_option_skips_under_pytest():
    check = dict(cell_checks(_refuses))["shapes_packed[bi]"]
    with pytest.raises(pytest.skip.Exception, match="shapes_packed\\[bi\\].*one direction only"):
        check()


def test_refused_option_raises_check_skipped_outside_pytest():
    code = ("from seqkit.testing import cell_checks, CheckSkipped\n"
            "def f(i, h, num_layers=1, dropout=0.0, bidirectional=False):\n"
            "    raise NotImplementedError('nope')\n"
            "try:\n    dict(cell_checks(f))['gradients[bi]']()\n"
            "except CheckSkipped as e:\n    print('SKIPPED', e)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "SKIPPED gradients[bi]" in proc.stdout and "nope" in proc.stdout


def test_refusing_the_basic_configuration_fails():
    def refuses_all(*a, **k):
        raise NotImplementedError("nothing works")

    with pytest.raises(ConformanceError, match="basic configuration"):
        check_cell(refuses_all, configs=UNI_BI)


def test_factory_returning_a_non_module_fails():
    with pytest.raises(ConformanceError, match="torch.nn.Module"):
        check_cell(lambda *a, **k: object(), configs=UNI_BI)


# -- collators -----------------------------------------------------------------------------
class SortedTargets(Collator):
    """Packs correctly but returns the targets in the sorted (longest-first) order."""

    def __call__(self, items):
        texts, targets = self.split(items)
        seqs, lengths = self.encode(texts)
        packed = pack_sequence(seqs, enforce_sorted=False)
        return Batch(packed, lengths, targets.index_select(0, packed.sorted_indices))


class Int32Lengths(Collator):
    def __call__(self, items):
        texts, targets = self.split(items)
        seqs, lengths = self.encode(texts)
        return Batch(pad_sequence(seqs), lengths.int(), targets)


class PadsWithUnk(Collator):
    def __call__(self, items):
        texts, targets = self.split(items)
        seqs, lengths = self.encode(texts)
        return Batch(pad_sequence(seqs, padding_value=self.encoder.unk_index), lengths, targets)


class LeftPadding(Collator):
    def __call__(self, items):
        texts, targets = self.split(items)
        seqs, lengths = self.encode(texts)
        padded = pad_sequence([s.flip(0) for s in seqs]).flip(0)  # padding before the text
        return Batch(padded, lengths, targets)


class SortsInputsOnly(Collator):
    """Sorts the sequences by length but keeps lengths and targets in the caller's order."""

    def __call__(self, items):
        texts, targets = self.split(items)
        seqs, lengths = self.encode(texts)
        order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))
        return Batch(pad_sequence([seqs[i] for i in order]), lengths, targets)


@pytest.mark.parametrize("collator, check, words", [
    (SortedTargets, "targets", ["caller's order"]),
    (SortedTargets, "aligned_with_items_alone", ["target in the batch must be the item's own"]),
    (Int32Lengths, "lengths", ["torch.int64", "torch.int32"]),
    (PadsWithUnk, "padding", ["pad_index 0"]),
    (LeftPadding, "inputs_match_encoding", ["encoder.encode(text)"]),
    (LeftPadding, "aligned_with_items_alone", ["collated alone"]),
    (SortsInputsOnly, "aligned_with_items_alone", ["collated alone"]),
], ids=lambda v: v.__name__ if isinstance(v, type) else None)
def test_broken_collators_are_caught(collator, check, words):
    with pytest.raises(ConformanceError) as info:
        check_collator(collator)
    failures = dict(info.value.failures)
    assert check in failures, list(failures)
    assert f"collator check '{check}'" in failures[check]
    for word in words:
        assert word in failures[check], failures[check]


# -- encoders ------------------------------------------------------------------------------
class ForgetfulState(Encoder):
    def load_state_dict(self, state):
        return self  # ignores the alphabet


class SetState(Encoder):
    def state_dict(self):
        return {**super().state_dict(), "alphabet": set(self.alphabet)}


class ZeroBased(Encoder):
    def encode(self, text):
        return [max(0, i - 2) for i in super().encode(text)]  # the first letter lands on pad


class SizeWithoutReserved(Encoder):
    @property
    def size(self):
        return len(self.alphabet)


class AsciiOnly(Encoder):
    def encode(self, text):
        text.encode("ascii")
        return super().encode(text)


class LossyDecode(Encoder):
    def decode(self, indices):
        return super().decode(indices)[:-1]


@pytest.mark.parametrize("encoder, check, words", [
    (ForgetfulState, "state_dict_json_roundtrip", ["after load_state_dict"]),
    (SetState, "state_dict_json_roundtrip", ["JSON-serialisable"]),
    (ZeroBased, "pad_never_produced", ["never produce pad_index"]),
    (SizeWithoutReserved, "encode_range", ["[0, size="]),
    (AsciiOnly, "encode_range", ["UnicodeEncodeError"]),
    (LossyDecode, "decode_roundtrip", ["decode(encode(text))"]),
], ids=lambda v: v.__name__ if isinstance(v, type) else None)
def test_broken_encoders_are_caught(encoder, check, words):
    with pytest.raises(ConformanceError) as info:
        check_encoder(encoder)
    failures = dict(info.value.failures)
    assert check in failures, list(failures)
    for word in words:
        assert word in failures[check], failures[check]


# -- datasets ------------------------------------------------------------------------------
_PAIRS = [("Abe", "Japanese"), ("Smith", "English"), ("Müller", "German"), ("王", "Chinese")]


def good_dataset(path=None, *, on_bad_line="error"):
    return PairDataset([t for t, _ in _PAIRS], [l for _, l in _PAIRS])


def unsorted_labels(path=None, *, on_bad_line="error"):
    ds = good_dataset()
    ds.labels = list(reversed(ds.labels))
    return ds


def int_labels(path=None, *, on_bad_line="error"):
    class IntLabels(PairDataset):
        def __getitem__(self, i):
            return self.texts[i], self._label_index[self.targets[i]]
    return IntLabels([t for t, _ in _PAIRS], [l for _, l in _PAIRS])


def shuffled(path=None, *, on_bad_line="error"):
    pairs = list(_PAIRS)
    random.Random(os.urandom(8)).shuffle(pairs)
    pairs += [(f"name{i}", "English") for i in range(30)]
    random.Random(os.urandom(8)).shuffle(pairs)
    return PairDataset([t for t, _ in pairs], [l for _, l in pairs])


def no_on_bad_line(path=None):
    return good_dataset()


@pytest.mark.parametrize("factory, check, words", [
    (good_dataset, None, []),
    (unsorted_labels, "labels", ["sorted"]),
    (int_labels, "items_are_pairs", ["(str, str)"]),
    (shuffled, "indexing_deterministic", ["same arguments"]),
    (no_on_bad_line, "on_bad_line", ["on_bad_line='error'", "TypeError"]),
    (lambda path=None, on_bad_line="error": list(_PAIRS), "is_dataset", ["torch.utils.data.Dataset"]),
], ids=["good", "unsorted_labels", "int_labels", "shuffled", "no_on_bad_line", "list"])
def test_broken_datasets_are_caught(factory, check, words):
    if check is None:
        assert check_dataset(factory).ok
        return
    with pytest.raises(ConformanceError) as info:
        check_dataset(factory)
    failures = dict(info.value.failures)
    assert check in failures, list(failures)
    for word in words:
        assert word in failures[check], failures[check]


def test_error_message_is_one_readable_line_per_failure():
    with pytest.raises(ConformanceError) as info:
        check_encoder(SetState)
    text = str(info.value)
    assert text.startswith("encoder check 'state_dict_json_roundtrip' failed for ")
    assert "expected" in text and "got" in text
    json.dumps(info.value.failures)  # plain data


# -- docs/writing-a-plugin.md stays true ---------------------------------------------------
def test_the_cell_in_writing_a_plugin_passes_the_suite():
    from conftest import ROOT

    path = ROOT / "docs" / "writing-a-plugin.md"
    doc = path.read_text("utf-8")
    (code,) = [b for b in re.findall(r"```python\n(.*?)```", doc, re.S) if b.startswith("# src/seqkit_myrnn/cell.py")]
    namespace = {"__name__": "seqkit_myrnn.cell"}
    exec(compile(code, str(path), "exec"), namespace)
    report = check_cell(namespace["ElmanRNN"])
    assert report.ok
    if not torch.cuda.is_available():  # the page shows the report of a machine without a GPU
        assert str(report).splitlines()[0] in doc
        assert f"{2 * len(report.passed)} passed, {2 * len(report.skipped)} skipped" in doc
        assert str(report.skipped[1]).strip() in doc


# -- capabilities: declared at registration, or stated by the caller for a callable --------
ONE = [CellConfig("uni")]


def test_index_input_runs_for_a_registered_cell_that_declares_indices():
    assert registry.cells.entry("fused-gru").capabilities == {"indices", "embedding"}
    report = check_cell("fused-gru", configs=CELL_CONFIGS[:2])
    assert report.ok and report["index_input"].status == "passed"


def test_embedding_input_runs_for_fused_gru_and_skips_for_gru():
    report = check_cell("fused-gru", configs=CELL_CONFIGS[:2])
    assert report.ok and report["embedding_input"].status == "passed"
    reason = check_cell("gru", configs=ONE)["embedding_input"].reason
    assert reason.startswith("the cell does not declare the 'embedding' capability")


def test_embedding_input_catches_a_cell_that_folds_wrongly():
    """A cell that claims the capability but scales the table is caught, naming the claim."""
    from torch.nn.utils.rnn import PackedSequence

    class Wrong(torch.nn.GRU):
        def forward(self, x, hx=None, *, embedding=None):
            if embedding is None:
                return super().forward(x, hx)
            table = embedding * 1.5
            rows = PackedSequence(table[x.data], *x[1:]) if isinstance(x, PackedSequence) else table[x]
            return super().forward(rows, hx)

    def make(input_size, hidden_size, num_layers=1, dropout=0.0, bidirectional=False):
        return Wrong(input_size, hidden_size, num_layers=num_layers, bidirectional=bidirectional)

    with pytest.raises(Exception, match="'embedding' capability .*must equal that of the embedded rows"):
        check_cell(make, configs=ONE, capabilities={"embedding"})


def test_index_input_skips_a_cell_that_declares_nothing():
    reason = check_cell("gru", configs=ONE)["index_input"].reason
    assert reason.startswith("the cell does not declare the 'indices' capability") and "registered without" in reason
    # a plain callable declares only what the caller states: the cell object is never asked
    result = check_cell(make_fused_gru, configs=ONE)["index_input"]
    assert result.status == "skipped" and "the cell does not declare the 'indices' capability" in result.reason
    assert "capabilities={'indices'}" in result.reason


@pytest.mark.parametrize("capabilities", [{"indices"}, ("indices",), "indices"], ids=["set", "tuple", "str"])
def test_a_callable_states_its_capabilities(capabilities):
    report = check_cell(make_fused_gru, configs=UNI_BI, capabilities=capabilities)
    assert report.ok and report["index_input"].status == "passed"
    found = dict(cell_checks(make_fused_gru, configs=ONE, capabilities=capabilities))
    found["index_input"]()  # passes (no skip)


def test_registered_capabilities_come_from_the_entry(fresh_registry):
    fresh_registry.cells.register("kit-gather", make_fused_gru, capabilities={"indices"})
    fresh_registry.cells.register("kit-plain", make_fused_gru)
    assert dict(cell_checks("kit-gather", configs=ONE))["index_input"].outcome().status == "passed"
    assert dict(cell_checks("kit-plain", configs=ONE))["index_input"].outcome().status == "skipped"
    with pytest.raises(ValueError, match="capabilities= is for a plain cell factory.*'kit-gather'"):
        cell_checks("kit-gather", capabilities={"indices"})


def test_unknown_capability_is_refused():
    with pytest.raises(ValueError, match="unknown cell capabilities 'telepathy'.*can declare: 'embedding', 'indices'"):
        cell_checks(make_fused_gru, capabilities={"telepathy"})


class OffByOneIndices(_Wrapped):
    """Takes int64 indices, but reads symbol i as the one-hot row of i + 1."""

    def forward(self, x, h0=None):
        n = self.gru.input_size
        if isinstance(x, PackedSequence) and not x.data.is_floating_point():
            rows = nn.functional.one_hot((x.data + 1) % n, n).float()
            x = PackedSequence(rows, x.batch_sizes, x.sorted_indices, x.unsorted_indices)
        elif isinstance(x, torch.Tensor) and not x.is_floating_point():
            x = nn.functional.one_hot((x + 1) % n, n).float()
        return self.gru(x, h0)


@pytest.mark.parametrize("cell, words", [
    (_Wrapped, ["int64 symbol indices must be accepted", "dtype"]),
    (OffByOneIndices, ["output of the one-hot rows", "packed input"]),
], ids=["takes_no_indices", "off_by_one"])
def test_a_false_indices_claim_is_caught(cell, words):
    with pytest.raises(ConformanceError) as info:
        check_cell(cell, configs=UNI_BI, capabilities={"indices"})
    failures = dict(info.value.failures)
    assert list(failures) == ["index_input"]
    assert "cell check 'index_input' failed" in failures["index_input"]
    for word in ["'indices' capability"] + words:
        assert word in failures["index_input"], failures["index_input"]


# -- tasks -----------------------------------------------------------------------------------
TASK_CHECKS = ["is_task", "split_partitions", "setup_then_build", "sample_weights",
               "loss_is_scalar_and_differentiable", "evaluate_has_loss", "finalize_summary_keys",
               "state_dict_roundtrip", "predict_one_per_example", "predict_in_caller_order", "deterministic"]


@parametrize_checks("task", ["classify", "seq2seq"])
def test_builtin_task(check):
    check()


def test_task_is_a_kind_like_the_others():
    assert KINDS[-1] == "task"
    assert check_names("task") == TASK_CHECKS
    ids = [p.id for p in parametrize_checks("task", ["classify", "seq2seq"]).mark.args[1]]
    assert ids == [f"{t}-{c}" for t in ("classify", "seq2seq") for c in TASK_CHECKS]
    pairs = checks("task", "classify")
    assert [name for name, _ in pairs] == TASK_CHECKS and pairs[0][1].kind == "task"
    run_check("task", "classify", "state_dict_roundtrip")
    with pytest.raises(KeyError, match="no task check named"):
        run_check("task", "classify", "nope")


_LANGS = {"Japanese": ["Abe", "Sato", "Ito", "Kato", "Mori", "Ono", "Ueda", "Saito", "Kudo", "Endo"],
          "Russian": ["Ivanov", "Petrov", "Orlov", "Popov", "Sokolov", "Volkov", "Lebedev", "Kozlov", "Belov", "Zotov"],
          "Italian": ["Rossi", "Russo", "Bruno", "Greco", "Conti", "Gallo", "Costa", "Ricci", "Marino", "Rizzo"]}
_TEXTS = [t for names in _LANGS.values() for t in names]


def test_tasks_on_data_the_caller_passes():
    labelled = lambda: PairDataset(_TEXTS, [lang for lang, names in _LANGS.items() for _ in names])  # noqa: E731
    assert check_task("classify", dataset=labelled).ok  # a function: a fresh dataset per check
    pairs = SequencePairs(_TEXTS, [list(t.upper()) for t in _TEXTS], target_joiner="")
    assert check_task("seq2seq", dataset=pairs, options={"beam": 2}).ok
    with pytest.raises(TypeError, match="dataset must be a dataset"):
        task_checks("classify", dataset=3)
    with pytest.raises(ValueError, match="config: hiden_size are not RunConfig fields"):
        task_checks("classify", config={"hiden_size": 4})


def test_task_with_an_indices_cell():
    # one-hot encoder + a cell that declares 'indices': the model hands the cell symbol indices
    assert check_task("classify", config={"encoder": "onehot", "cell": "fused-gru", "collator": "pad"}).ok


class LeakySplit(ClassifyTask):
    def split(self, dataset, ctx):
        _, test, report = super().split(dataset, ctx)
        return dataset, test, report  # trains on the test examples too


class SortedPredictions(ClassifyTask):
    def predict(self, model, batch, *, top_k, **options):
        preds = super().predict(model, batch, top_k=top_k, **options)
        return [preds[i] for i in batch.inputs.sorted_indices.tolist()]  # the packed (longest-first) order


class ForgetsLabels(ClassifyTask):
    def load_state_dict(self, state):
        pass  # a reloaded task has no classes


class Float32Loss(ClassifyTask):
    def evaluate(self, model, batches, device, *, final=True):
        metrics = super().evaluate(model, batches, device, final=final)
        metrics["loss"] = np.float32(metrics["loss"])  # not JSON-serialisable
        return metrics


class DetachedLoss(ClassifyTask):
    def loss(self, model, batch):
        return super().loss(model, batch).detach()


class UnreportedSummaryKey(ClassifyTask):
    summary_keys = ("top1", "accuracy")


class UnseededWeights(ClassifyTask):
    def build_model(self, ctx):
        model = super().build_model(ctx)
        with torch.no_grad():
            model.head.bias[0] += random.Random().random()  # seeded from the OS, not from torch
        return model


class NotATask:
    """Duck-typed, but half of the interface is missing."""

    headline, summary_keys = "loss", ()

    def split(self, dataset, ctx):
        return dataset, dataset, {}


@pytest.mark.parametrize("task, check, words", [
    (LeakySplit, "split_partitions", ["must be disjoint"]),
    (SortedPredictions, "predict_in_caller_order", ["caller's order", "must follow its text"]),
    (ForgetsLabels, "state_dict_roundtrip", ["load_state_dict(state_dict())", "trained model's weights"]),
    (Float32Loss, "evaluate_has_loss", ["JSON-serialisable", "float32"]),
    (DetachedLoss, "loss_is_scalar_and_differentiable", ["requires_grad"]),
    (UnreportedSummaryKey, "finalize_summary_keys", ["missing accuracy"]),
    (UnseededWeights, "deterministic", ["two runs built under the same seed"]),
    (NotATask, "is_task", ["not a seqkit.engine.task.Task subclass", "missing setup"]),
], ids=lambda v: v.__name__ if isinstance(v, type) else None)
@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")  # ForgetsLabels builds a head of 0 classes
def test_broken_tasks_are_caught(task, check, words):
    with pytest.raises(ConformanceError) as info:
        check_task(task)
    err = info.value
    assert err.kind == "task"
    failures = dict(err.failures)
    assert check in failures, list(failures)
    assert f"task check '{check}' failed for " in failures[check] and task.__name__ in failures[check]
    for word in words:
        assert word in failures[check], failures[check]


def test_sorted_predictions_break_nothing_else():
    report = check_component("task", SortedPredictions, raise_on_failure=False)
    assert [r.name for r in report.failed] == ["predict_in_caller_order"]
    assert report["predict_one_per_example"].status == "passed"


def test_a_task_that_refuses_every_sample_asks_for_data():
    class RefusesEverything(ClassifyTask):
        def split(self, dataset, ctx):
            raise DataError("no data suits me")

    report = check_task(RefusesEverything, raise_on_failure=False)
    reason = report["split_partitions"].reason
    assert "refused every built-in sample dataset" in reason and "no data suits me" in reason
    assert "pass dataset=" in reason


def test_a_task_without_predict_skips_the_predict_checks():
    class NoPredict(ClassifyTask):
        predict = Task.predict

    report = check_task(NoPredict)
    for name in ("predict_one_per_example", "predict_in_caller_order"):
        assert report[name].status == "skipped" and "does not implement predict" in report[name].reason
