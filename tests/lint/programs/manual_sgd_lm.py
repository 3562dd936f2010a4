"""Recurrent language model trained with a hand-written SGD update and gradient clipping."""
import torch
import torch.nn as nn


class TinyLM(nn.Module):
    def __init__(self, vocab=12, emb=8, hid=16, kind="GRU"):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.rnn = getattr(nn, kind)(emb, hid, batch_first=True)
        self.drop = nn.Dropout(0.2)
        self.proj = nn.Linear(hid, vocab)
        nn.init.uniform_(self.proj.weight, -0.1, 0.1)
        nn.init.zeros_(self.proj.bias)

    def forward(self, tokens):
        out, _ = self.rnn(self.drop(self.emb(tokens)))
        return self.proj(self.drop(out)).reshape(-1, 12)


lm = TinyLM()
loss_fn = nn.CrossEntropyLoss()
step_size = 5.0
data = [(torch.randint(0, 12, (4, 6)), torch.randint(0, 12, (24,))) for _ in range(3)]


def run_eval():
    lm.eval()
    total = 0.0
    with torch.no_grad():
        for x, y in data:
            total += loss_fn(lm(x), y).item()
    return total


for epoch in range(3):
    lm.train()
    for x, y in data:
        lm.zero_grad()
        loss = loss_fn(lm(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(lm.parameters(), 0.5)
        for p in lm.parameters():
            p.data.add_(p.grad, alpha=-step_size)
    run_eval()
    step_size *= 0.5
