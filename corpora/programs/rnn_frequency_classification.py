"""nn.RNN classifies noisy sine waves into 3 frequency bands from (value, first difference)
inputs; Adam,
clip_grad_norm_, MultiStepLR schedule.

Data from numpy's seeded RandomState. Metric: test accuracy (higher is better).
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn

FREQS = (0.2, 0.5, 0.9)


def waves(n, length, rng):
    labels = rng.randint(0, len(FREQS), size=n)
    t = np.arange(length)
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    freq = np.array(FREQS)[labels][:, None] * rng.uniform(0.9, 1.1, size=(n, 1))
    x = np.sin(freq * t + phase) + 0.2 * rng.randn(n, length)
    return torch.tensor(np.stack([x[:, 1:], np.diff(x, axis=1)], axis=-1), dtype=torch.float32), torch.tensor(labels)


class FreqRNN(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.rnn = nn.RNN(2, hidden, num_layers=1, nonlinearity="tanh", batch_first=True)
        self.fc = nn.Linear(hidden, len(FREQS))

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.fc(out[:, -1])


parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int, default=int(os.environ.get("FAULTLENS_SEED", 0)))
parser.add_argument("--lr", type=float, default=5e-3)
parser.add_argument("--epochs", type=int, default=12)

if __name__ == "__main__":
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = np.random.RandomState(args.seed)
    X_train, y_train = waves(900, 24, rng)
    X_test, y_test = waves(300, 24, rng)

    model = FreqRNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[8, 11], gamma=0.3)
    criterion = nn.CrossEntropyLoss()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(X_train))
        for i in range(0, len(order), 30):
            idx = order[i:i + 30]
            optimizer.zero_grad()
            loss = criterion(model(X_train[idx]), y_train[idx])
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
        scheduler.step()
        print(f"epoch {epoch + 1} loss {loss.item():.4f}")
    model.eval()
    with torch.no_grad():
        acc = (model(X_test).argmax(1) == y_test).float().mean().item()
    print(f"FINAL_SCORE accuracy {acc:.4f}")
