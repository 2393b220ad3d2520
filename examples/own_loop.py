"""A surname -> language classifier from seqkit's registries, trained by your own PyTorch loop.

    python examples/own_loop.py [DATA_DIR] [EPOCHS]     # DATA_DIR: <Language>.txt files ($SEQKIT_DATA)
"""
import sys

import torch
from torch import nn
from torch.utils.data import DataLoader

from seqkit import registry
from seqkit.data import BucketBatchSampler, split_dataset
from seqkit.nn import last_states, map_packed

data, epochs = (sys.argv[1:2] or [None])[0], int((sys.argv[2:3] or [4])[0])
torch.manual_seed(0)
dataset = registry.datasets.create("name2lang", path=data)          # (name, language) pairs
split = split_dataset(dataset, test_size=0.2, seed=0)                # the course's stratified split
train, test = dataset.subset(split.train), dataset.subset(split.test)
encoder = registry.encoders.create("index").fit(train.texts)         # the training alphabet
collate = registry.collators.create("fused-pack", encoder, labels=dataset.labels)   # strings -> PackedSequence
embed = nn.Embedding(encoder.size, 64)
cell = registry.cells.create("fused-gru", input_size=64, hidden_size=128, bidirectional=True)
head = nn.Linear(2 * 128, len(dataset.labels))


def logits(batch):
    states = last_states(cell, map_packed(embed, batch.inputs), batch.lengths, bidirectional=True)
    return head(states)                                              # in the batch's own order, as targets


params = [*embed.parameters(), *cell.parameters(), *head.parameters()]
opt = torch.optim.AdamW(params, lr=3e-3)
sampler = BucketBatchSampler(train.lengths(), 64, seed=0)            # length-bucketed batches of 64
loader = DataLoader(train, batch_sampler=sampler, collate_fn=collate)
for epoch in range(1, epochs + 1):
    sampler.set_epoch(epoch)
    for batch in loader:
        loss = nn.functional.cross_entropy(logits(batch), batch.targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        right = sum(int((logits(b).argmax(1) == b.targets).sum()) for b in DataLoader(test, 512, collate_fn=collate))
    print(f"epoch {epoch}: loss {loss.item():.3f}, test top-1 {right / len(test):.4f}")
