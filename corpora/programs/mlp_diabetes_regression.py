"""Diabetes progression regression: argparse with aliases and dest=, MLP + MSELoss, Adam.

Metric: R^2 on the held-out split (higher is better).
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, TensorDataset


def get_args(argv=None):
    p = argparse.ArgumentParser(description="diabetes regression")
    p.add_argument("-lr", "--learning-rate", dest="lr", type=float, default=1e-3)
    p.add_argument("-e", "--num-epochs", dest="epochs", type=int, default=40)
    p.add_argument("-b", "--batch", dest="batch_size", type=int, default=32)
    p.add_argument("--wd", "--weight-decay", dest="weight_decay", type=float, default=1e-3)
    p.add_argument("--seed", dest="seed", type=int,
                   default=int(os.environ.get("FAULTLENS_SEED", "0")))
    return p.parse_args(argv)


def r2_score(pred, target):
    ss_res = ((target - pred) ** 2).sum()
    ss_tot = ((target - target.mean()) ** 2).sum()
    return 1.0 - ss_res / ss_tot


class Regressor(nn.Module):
    def __init__(self, d_in, width=16):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())
        self.head = nn.Linear(width, 1)

    def forward(self, x):
        return self.head(self.body(x)).squeeze(1)


def main():
    args = get_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    X, y = load_diabetes(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=args.seed)
    x_mean, x_std = X_tr.mean(0), X_tr.std(0)
    y_mean, y_std = y_tr.mean(), y_tr.std()
    X_tr = torch.tensor((X_tr - x_mean) / x_std, dtype=torch.float32)
    X_te = torch.tensor((X_te - x_mean) / x_std, dtype=torch.float32)
    y_tr = torch.tensor((y_tr - y_mean) / y_std, dtype=torch.float32)
    y_te = torch.tensor((y_te - y_mean) / y_std, dtype=torch.float32)

    loader = DataLoader(TensorDataset(X_tr, y_tr), batch_size=args.batch_size, shuffle=True)
    model = Regressor(X_tr.shape[1])
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    criterion = nn.MSELoss()

    for epoch in range(1, args.epochs + 1):
        model.train()
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
        if epoch % 20 == 0:
            model.eval()
            with torch.no_grad():
                val = criterion(model(X_te), y_te).item()
            print(f"epoch {epoch} train_loss {loss.item():.4f} val_mse {val:.4f}")

    model.eval()
    with torch.no_grad():
        score = r2_score(model(X_te), y_te).item()
    print(f"FINAL_SCORE r2 {score:.4f}")


if __name__ == "__main__":
    main()
