"""Binary make_classification MLP with BatchNorm1d + LeakyReLU, Kaiming init applied through
self.apply(...), SGD with Nesterov momentum and BCEWithLogitsLoss.

Metric: test accuracy (higher is better).
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import make_classification
from torch.utils.data import DataLoader, TensorDataset


class DeepBinary(nn.Module):
    def __init__(self, n_in, hidden=(64, 32)):
        super().__init__()
        layers = []
        prev = n_in
        for h in hidden:
            layers += [nn.Linear(prev, h), nn.BatchNorm1d(h), nn.LeakyReLU(0.1)]
            prev = h
        layers.append(nn.Linear(prev, 1))
        self.net = nn.Sequential(*layers)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.kaiming_normal_(module.weight, a=0.1, nonlinearity="leaky_relu")
            nn.init.zeros_(module.bias)

    def forward(self, x):
        return self.net(x).squeeze(1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FAULTLENS_SEED", 0)))
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    X, y = make_classification(n_samples=1000, n_features=16, n_informative=8, flip_y=0.02,
                               random_state=args.seed)
    X = torch.tensor(X, dtype=torch.float32)
    y = torch.tensor(y, dtype=torch.float32)
    train_ds = TensorDataset(X[:800], y[:800])
    X_test, y_test = X[800:], y[800:]
    loader = DataLoader(train_ds, batch_size=40, shuffle=True)

    model = DeepBinary(16)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True)
    criterion = nn.BCEWithLogitsLoss()
    for epoch in range(args.epochs):
        model.train()
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch + 1} loss {loss.item():.4f}")

    model.eval()
    with torch.no_grad():
        acc = ((model(X_test) > 0).float() == y_test).float().mean().item()
    print(f"FINAL_SCORE accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
