import argparse

import torch
import torch.nn as nn


def synthetic_sequences(n, steps=20, features=4, generator=None):
    x = torch.randn(n, steps, features, generator=generator)
    y = (x[:, -5:, 0].sum(dim=1) > 0).long()
    return x, y


class SeqNet(nn.Module):
    def __init__(self, features=4, hidden=32):
        super().__init__()
        self.rnn = nn.GRU(features, hidden, num_layers=1, batch_first=True)
        self.fc = nn.Linear(hidden, 2)

    def forward(self, x):
        _, h = self.rnn(x)
        return self.fc(h[-1])


def train(args):
    g = torch.Generator().manual_seed(args.seed)
    x_tr, y_tr = synthetic_sequences(2400, generator=g)
    x_va, y_va = synthetic_sequences(600, generator=g)
    torch.manual_seed(args.seed)
    model = SeqNet(hidden=args.hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    criterion = nn.CrossEntropyLoss()
    for epoch in range(args.epochs):
        model.train()
        for i in range(0, len(x_tr), args.batch_size):
            xb, yb = x_tr[i:i + args.batch_size], y_tr[i:i + args.batch_size]
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            acc = (model(x_va).argmax(1) == y_va).float().mean().item()
        print(f"[{epoch + 1}/{args.epochs}] loss {loss.item():.4f} acc {acc:.4f}")
    return acc


if __name__ == "__main__":
    torch.set_num_threads(1)
    p = argparse.ArgumentParser()
    p.add_argument("--learning-rate", "--lr", type=float, default=1.0)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--seed", type=int, default=3)
    final = train(p.parse_args())
    print(f"FINAL_SCORE val_accuracy {final:.4f}")
