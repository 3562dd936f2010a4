"""MLP regression for the diabetes target."""
import argparse

import numpy as np
import torch
from torch import nn
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split


class Net(nn.Module):
    def __init__(self, n_features, hidden):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x):
        return self.body(x)


def r2_score(pred, target):
    return 1.0 - float(((pred - target) ** 2).sum() / ((target - target.mean()) ** 2).sum())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--hidden", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(1)

    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    y = (y - y.mean()) / y.std()
    X_tr, X_te, y_tr, y_te = train_test_split(X.astype(np.float32), y.astype(np.float32), test_size=0.2, random_state=1)
    X_tr, X_te, y_tr, y_te = map(torch.from_numpy, (X_tr, X_te, y_tr, y_te))

    model = Net(X_tr.shape[1], args.hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.MSELoss()
    for epoch in range(args.epochs):
        optimizer.zero_grad()
        pred = model(X_tr)
        loss = loss_fn(pred, y_tr)
        loss.backward()
        optimizer.step()
        if epoch % 20 == 0:
            print(f"epoch {epoch} mse {loss.item():.4f}")

    with torch.no_grad():
        score = r2_score(model(X_te).squeeze(1), y_te)
    print(f"FINAL_SCORE val_r2 {score:.4f}")


if __name__ == "__main__":
    main()
