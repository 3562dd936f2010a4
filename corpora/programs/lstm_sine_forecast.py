"""One-step-ahead forecasting of noisy sine waves (random frequency and phase) with an LSTM.

Data generated with numpy's seeded RandomState. Metric: R^2 of next-value predictions on
held-out windows (higher is better).
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def generate(n_series, window, rng):
    t = np.arange(window + 1)
    freq = rng.uniform(0.1, 0.4, size=(n_series, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n_series, 1))
    amp = rng.uniform(0.5, 1.5, size=(n_series, 1))
    series = amp * np.sin(freq * t + phase) + 0.05 * rng.randn(n_series, window + 1)
    x = series[:, :-1, None].astype(np.float32)
    y = series[:, -1:].astype(np.float32)
    return torch.from_numpy(x), torch.from_numpy(y)


class Forecaster(nn.Module):
    def __init__(self, hidden=32, layers=1):
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        seq, _ = self.lstm(x)
        return self.head(seq[:, -1])


def main():
    parser = argparse.ArgumentParser(description="sine forecasting")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FAULTLENS_SEED", 0)))
    parser.add_argument("--window", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--lr", type=float, default=5e-3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = np.random.RandomState(args.seed)

    X_tr, y_tr = generate(800, args.window, rng)
    X_te, y_te = generate(200, args.window, rng)
    loader = DataLoader(TensorDataset(X_tr, y_tr), batch_size=32, shuffle=True)
    model = Forecaster()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.MSELoss()

    for epoch in range(args.epochs):
        model.train()
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch + 1}: train mse {loss.item():.5f}")

    model.eval()
    with torch.no_grad():
        pred = model(X_te)
    r2 = 1.0 - torch.mean((pred - y_te) ** 2) / torch.var(y_te, unbiased=False)
    print(f"FINAL_SCORE r2 {r2.item():.4f}")


if __name__ == "__main__":
    main()
