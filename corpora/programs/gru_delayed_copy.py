"""GRU sequence-to-sequence copy task: at every step output the token seen DELAY steps earlier.

Embedding -> GRU -> per-step Linear; CrossEntropyLoss over all positions; RMSprop.
Metric: per-token accuracy on held-out sequences, positions >= DELAY (higher is better).
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn

VOCAB = 6
DELAY = 2


def make_batch(n, length, gen):
    src = torch.randint(0, VOCAB, (n, length), generator=gen)
    tgt = torch.zeros_like(src)
    tgt[:, DELAY:] = src[:, :-DELAY]
    return src, tgt


class CopyGRU(nn.Module):
    def __init__(self, emb=16, hidden=48):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, emb)
        self.gru = nn.GRU(emb, hidden, batch_first=True)
        self.proj = nn.Linear(hidden, VOCAB)

    def forward(self, tokens):
        h, _ = self.gru(self.embed(tokens))
        return self.proj(h)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=int(os.environ.get("FAULTLENS_SEED", 0)))
    ap.add_argument("--length", type=int, default=12)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=3e-3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    model = CopyGRU()
    optimizer = torch.optim.RMSprop(model.parameters(), lr=args.lr)
    criterion = nn.CrossEntropyLoss()
    for step in range(args.steps):
        src, tgt = make_batch(32, args.length, gen)
        logits = model(src)
        loss = criterion(logits[:, DELAY:].reshape(-1, VOCAB), tgt[:, DELAY:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 100 == 0:
            print(f"step {step} loss {loss.item():.4f}")

    src, tgt = make_batch(256, args.length, gen)
    with torch.no_grad():
        pred = model(src).argmax(-1)
    acc = (pred[:, DELAY:] == tgt[:, DELAY:]).float().mean().item()
    print(f"FINAL_SCORE token_accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
