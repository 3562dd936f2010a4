"""Bidirectional GRU decides whether a noisy random walk with drift trends up or down.

Data from a seeded torch.Generator. SGD with momentum and clip_grad_norm_.
Metric: test accuracy (higher is better).
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn


def make_walks(n, length, gen):
    labels = torch.randint(0, 2, (n,), generator=gen)
    drift = (labels.float() * 2 - 1) * 0.15
    steps = torch.randn(n, length, generator=gen) * 0.5 + drift[:, None]
    walks = torch.cumsum(steps, dim=1)
    return walks.unsqueeze(-1), labels


class TrendGRU(nn.Module):
    def __init__(self, hidden=24):
        super().__init__()
        self.gru = nn.GRU(1, hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, 2)

    def forward(self, x):
        _, h = self.gru(x)
        return self.out(torch.cat([h[0], h[1]], dim=1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FAULTLENS_SEED", 0)))
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--length", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    X_train, y_train = make_walks(1000, args.length, gen)
    X_test, y_test = make_walks(300, args.length, gen)
    model = TrendGRU()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    criterion = nn.CrossEntropyLoss()

    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(X_train))
        for i in range(0, len(perm), 32):
            idx = perm[i:i + 32]
            optimizer.zero_grad()
            loss = criterion(model(X_train[idx]), y_train[idx])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=5.0)
            optimizer.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.4f}")

    model.eval()
    with torch.no_grad():
        acc = (model(X_test).argmax(1) == y_test).float().mean().item()
    print(f"FINAL_SCORE accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
