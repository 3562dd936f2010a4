"""Long-range memory task: the label is the first token of a sequence followed by random
distractor tokens; an Embedding + LSTM must carry it to the last step. Adam, CrossEntropyLoss.

Metric: test accuracy (higher is better).
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn

N_CLASSES = 4
N_DISTRACT = 4


def sample(n, length, gen):
    first = torch.randint(0, N_CLASSES, (n, 1), generator=gen)
    rest = torch.randint(N_CLASSES, N_CLASSES + N_DISTRACT, (n, length - 1), generator=gen)
    return torch.cat([first, rest], dim=1), first.squeeze(1)


class Memorizer(nn.Module):
    def __init__(self, emb=8, hidden=32):
        super().__init__()
        self.emb = nn.Embedding(N_CLASSES + N_DISTRACT, emb)
        self.lstm = nn.LSTM(emb, hidden, batch_first=True)
        self.out = nn.Linear(hidden, N_CLASSES)

    def forward(self, x):
        h, _ = self.lstm(self.emb(x))
        return self.out(h[:, -1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=int(os.environ.get("FAULTLENS_SEED", 0)))
    ap.add_argument("--length", type=int, default=8)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=1e-2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    model = Memorizer()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()
    for step in range(args.steps):
        x, y = sample(32, args.length, gen)
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.4f}")

    x_test, y_test = sample(500, args.length, gen)
    with torch.no_grad():
        acc = (model(x_test).argmax(1) == y_test).float().mean().item()
    print(f"FINAL_SCORE accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
