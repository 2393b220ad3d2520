"""Run an exported seqkit model WITHOUT seqkit (the tests run this file in a subprocess).

    python standalone_predict.py EXPORT.json TEXTS.json OUT.npz

Reads the JSON that ``seqkit export`` writes beside the model, encodes the texts with the
alphabet recorded there, and runs the model with onnxruntime (``.onnx``) or plain torch
(``.pt``: TorchScript, ``.pt2``: torch.export). classify: writes the probabilities
``[texts, labels]``; seq2seq: greedy decoding, the tokens (joined with ``|``) and the
probability of each decoded sequence. Fails if seqkit was imported.
"""
from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path

import numpy as np


def encode(texts, enc):
    """Symbol indices as the export's encoder made them, padded: ``(indices [B, T], lengths [B])``."""
    index = {s: i for i, s in enumerate(enc["symbols"])}
    state = enc["state"]

    def normalize(text):
        if state.get("fold"):
            text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
        return text.lower() if state.get("lowercase") else text

    rows = [[index.get(c, enc["unk_index"]) for c in normalize(t)] for t in texts]
    width = max(len(r) for r in rows)
    indices = np.full((len(rows), width), enc["pad_index"], dtype=np.int64)
    for i, r in enumerate(rows):
        indices[i, :len(r)] = r
    return indices, np.array([len(r) for r in rows], dtype=np.int64)


def runner(path: Path):
    """A function of numpy arrays -> list of numpy arrays for one exported graph."""
    if path.suffix == ".onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path))
        names = [i.name for i in session.get_inputs()]
        return lambda *arrays: session.run(None, dict(zip(names, arrays)))
    import torch

    module = torch.jit.load(str(path)) if path.suffix == ".pt" else torch.export.load(str(path)).module()

    def run(*arrays):
        with torch.no_grad():
            out = module(*(torch.from_numpy(np.asarray(a)) for a in arrays))
        return [o.numpy() for o in (out if isinstance(out, (tuple, list)) else [out])]
    return run


def greedy(encoder, decoder, meta, indices, lengths):
    """Greedy decoding as ``seqkit predict --beam 1`` does it: tokens and sequence probabilities."""
    special = meta["special_tokens"]
    memory, keys, mask, state = encoder(indices, lengths)
    tokens = np.full(len(indices), special["bos"], dtype=np.int64)
    done, score = np.zeros(len(indices), bool), np.zeros(len(indices))
    out = [[] for _ in indices]
    for _ in range(meta["max_len"] or 2 * int(lengths.max()) + 10):
        log_probs, state = decoder(tokens, state, memory, keys, mask)
        tokens = log_probs.argmax(-1)
        for b in np.flatnonzero(~done):
            score[b] += log_probs[b, tokens[b]]
            if tokens[b] == special["eos"]:
                done[b] = True
            else:
                out[b].append(meta["target_vocabulary"][tokens[b]])
        if done.all():
            break
    return ["|".join(t) for t in out], np.exp(score)


def main(meta_path: str, texts_path: str, out_path: str, batch: int = 256) -> None:
    meta = json.loads(Path(meta_path).read_text("utf-8"))
    texts = json.loads(Path(texts_path).read_text("utf-8"))
    files = {part: Path(meta_path).parent / name for part, name in meta["files"].items()}
    if meta["task"] == "classify":
        model = runner(files["model"])
        probs = [model(*encode(texts[i:i + batch], meta["encoder"]))[0] for i in range(0, len(texts), batch)]
        result = {"probabilities": np.concatenate(probs)}
    else:
        encoder, decoder = runner(files["encoder"]), runner(files["decoder"])
        tokens, probs = [], []
        for i in range(0, len(texts), batch):
            t, p = greedy(encoder, decoder, meta, *encode(texts[i:i + batch], meta["encoder"]))
            tokens += t
            probs.append(p)
        result = {"tokens": np.array(tokens), "probabilities": np.concatenate(probs)}
    assert "seqkit" not in sys.modules and "seqkit_plugins" not in sys.modules, "seqkit was imported"
    np.savez(out_path, **result)


if __name__ == "__main__":
    main(*sys.argv[1:4])
