"""`seqkit export`: a trained run as ONNX (run with onnxruntime), TorchScript and a
torch.export program (run with plain torch, seqkit not imported) reproduces `seqkit
predict` on the whole test split; cells that cannot be exported are one clear line."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import run_seqkit
from seqkit.engine import TaskContext, load_dataset, load_run, predict

pytestmark = pytest.mark.slow  # trains, exports and runs models in subprocesses
pytest.importorskip("onnxruntime", reason="needs onnxruntime (pip install 'seqkit[export]'; the test extra has it)")

RUNNER = Path(__file__).resolve().parent / "standalone_predict.py"
FORMATS = {"onnx": "model.onnx", "torchscript": "model.pt", "exported-program": "model.pt2"}
SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "cmudict-sample.dict"


def _train(out: Path, *args: str) -> Path:
    proc = run_seqkit("run", "--out", str(out), "--epochs", "1", "--threads", "2", "--quiet", *args)
    assert proc.returncode == 0, proc.stderr
    return out / "checkpoint.pt"


@pytest.fixture(scope="module", params=["gru", "fused-gru"])
def classify_run(request, names_path, tmp_path_factory):
    """A name2lang run with seqkit run's default model (1 epoch), on torch's GRU or the fused one."""
    out = tmp_path_factory.mktemp("classify") / request.param
    extra = ["--cell", "fused-gru", "--collator", "fused-pack"] if request.param == "fused-gru" else []
    return _train(out, "--data", str(names_path), *extra)


def _test_split_texts(loaded) -> list[str]:
    ds = load_dataset(loaded.config)
    _, test, _ = loaded.task.split(ds, TaskContext.from_config(loaded.config, encoder=loaded.encoder))
    return list(test.texts)


def _standalone(meta: str, texts: list[str], tmp: Path) -> dict:
    (tmp / "texts.json").write_text(json.dumps(texts), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(RUNNER), meta, str(tmp / "texts.json"), str(tmp / "out.npz")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return dict(np.load(tmp / "out.npz"))


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_an_exported_classifier_reproduces_predict_on_the_test_split(classify_run, fmt, tmp_path):
    proc = run_seqkit("export", "--checkpoint", str(classify_run), "--format", fmt, "-o",
                      str(tmp_path / FORMATS[fmt]), "--json")
    assert proc.returncode == 0, proc.stderr
    paths = json.loads(proc.stdout)
    meta = json.loads(Path(paths[-1]).read_text("utf-8"))
    loaded = load_run(str(classify_run))
    assert meta["labels"] == loaded.task.labels and meta["task"] == "classify"
    texts = _test_split_texts(loaded)
    assert len(texts) == 4015
    got = _standalone(paths[-1], texts, tmp_path)["probabilities"]
    want = np.zeros_like(got)
    for i, preds in enumerate(predict(loaded, texts, top_k=len(meta["labels"]))):
        for p in preds:
            want[i, meta["labels"].index(p["label"])] = p["probability"]
    assert np.abs(got - want).max() <= 1e-5
    assert (got.argmax(1) == want.argmax(1)).all()


@pytest.fixture(scope="module", params=["none", "layer", "input"])
def seq2seq_run(tmp_path_factory, request):
    """A small seq2seq run for each way of feeding the attention to the decoder (--feed)."""
    out = tmp_path_factory.mktemp("seq2seq") / "run"
    return _train(out, "--task", "seq2seq", "--data", str(SAMPLE), "--epochs", "3", "--hidden-size", "32",
                  "--embedding-dim", "16", "--precision", "fp32", "--cell", "gru", "--feed", request.param)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_an_exported_seq2seq_model_decodes_as_predict_does(seq2seq_run, fmt, tmp_path):
    proc = run_seqkit("export", "--checkpoint", str(seq2seq_run), "--format", fmt, "-o",
                      str(tmp_path / FORMATS[fmt]), "--json")
    assert proc.returncode == 0, proc.stderr
    paths = json.loads(proc.stdout)
    assert [Path(p).name for p in paths[:2]] == [f"model.encoder{Path(FORMATS[fmt]).suffix}",
                                                f"model.decoder{Path(FORMATS[fmt]).suffix}"]
    loaded = load_run(str(seq2seq_run))
    texts = _test_split_texts(loaded)
    got = _standalone(paths[-1], texts, tmp_path)
    tokens, probs = [], []
    for i in range(0, len(texts), 256):  # the standalone decoder's batches: max_len depends on the batch
        for preds in predict(loaded, texts[i:i + 256], top_k=1, beam=1):
            tokens.append("|".join(preds[0]["tokens"]))
            probs.append(preds[0]["probability"])
    assert list(got["tokens"]) == tokens
    assert np.allclose(got["probabilities"], probs, rtol=1e-5, atol=1e-12)


CELLS = textwrap.dedent('''
    """Two third-party cells: one that wraps torch's RNN, one that also says how to export it."""
    from torch import nn
    from seqkit import hookimpl


    class Wrapped(nn.Module):
        def __init__(self, input_size, hidden_size, num_layers=1, dropout=0.0, bidirectional=False):
            super().__init__()
            self.rnn = nn.RNN(input_size, hidden_size, num_layers=num_layers, bidirectional=bidirectional)

        def forward(self, x, h0=None):
            return self.rnn(x, h0)


    class WrappedExportable(Wrapped):
        def exportable(self):
            return self.rnn


    @hookimpl
    def seqkit_register_cells(register):
        register("wrapped", Wrapped)
        register("wrapped-exportable", WrappedExportable)
''')


def test_a_cell_that_cannot_be_exported_is_one_line_naming_it(names_subset, tmp_path):
    (tmp_path / "mycells.py").write_text(CELLS, encoding="utf-8")
    env = {"PYTHONPATH": str(tmp_path)}
    for cell in ("wrapped", "wrapped-exportable"):
        proc = run_seqkit("--plugin", "mycells", "run", "--data", str(names_subset), "--cell", cell, "--epochs", "1",
                          "--hidden-size", "8", "--out", str(tmp_path / cell), "--quiet", env=env)
        assert proc.returncode == 0, proc.stderr
    bad = run_seqkit("--plugin", "mycells", "export", "--checkpoint", str(tmp_path / "wrapped" / "checkpoint.pt"),
                     "-o", str(tmp_path / "w.onnx"), env=env)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
    assert "cell 'wrapped' (plugin 'mycells') cannot be exported to onnx" in bad.stderr
    assert "exportable()" in bad.stderr and not (tmp_path / "w.onnx").exists()
    good = run_seqkit("--plugin", "mycells", "export", "--checkpoint",
                      str(tmp_path / "wrapped-exportable" / "checkpoint.pt"), "--format", "torchscript",
                      "-o", str(tmp_path / "e.pt"), env=env)
    assert good.returncode == 0, good.stderr
    got = _standalone(str(tmp_path / "e.json"), ["Nakamura", "Smith"], tmp_path)["probabilities"]
    pred = run_seqkit("--plugin", "mycells", "predict", "--checkpoint",
                      str(tmp_path / "wrapped-exportable" / "checkpoint.pt"), "--top-k", "1", "--json", "Nakamura",
                      "Smith", env=env)
    want = [r["predictions"][0]["probability"] for r in json.loads(pred.stdout)]
    assert np.allclose(got.max(1), want, atol=1e-5)


def test_the_onnxruntime_example_in_the_docs_runs(classify_run, tmp_path):
    """docs/export.md's example, run as written (onnxruntime only) on an export of a real run."""
    import re

    from conftest import ROOT

    doc = (ROOT / "docs" / "export.md").read_text("utf-8")
    (code,) = [b for b in re.findall(r"```python\n(.*?)```", doc, re.S) if "onnxruntime" in b]
    assert len(code.strip().splitlines()) <= 22
    proc = run_seqkit("export", "--checkpoint", str(classify_run), "-o", str(tmp_path / "model.onnx"))
    assert proc.returncode == 0, proc.stderr
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.strip().splitlines()
    loaded = load_run(str(classify_run))
    want = predict(loaded, ["Nakamura", "Ivanov", "Schmidt"], top_k=1)
    assert [ln.split()[1] for ln in lines] == [p[0]["label"] for p in want]
    assert [float(ln.split()[2]) for ln in lines] == pytest.approx([round(p[0]["probability"], 3) for p in want],
                                                                     abs=1e-3)
