"""Diabetes regression with a small Trainer class; SmoothL1Loss, RMSprop, standardised target,
model.eval() + no_grad evaluation.

Metric: R^2 on the held-out split (higher is better).
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_diabetes
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


class Net(nn.Module):
    def __init__(self, n_in):
        super().__init__()
        self.layer1 = nn.Linear(n_in, 24)
        self.layer2 = nn.Linear(24, 1)
        self.activation = nn.Tanh()

    def forward(self, x):
        return self.layer2(self.activation(self.layer1(x)))


class Trainer:
    def __init__(self, model, lr=1e-3, batch_size=32):
        self.model = model
        self.batch_size = batch_size
        self.loss_fn = nn.SmoothL1Loss(beta=0.5)
        self.optimizer = torch.optim.RMSprop(model.parameters(), lr=lr, alpha=0.9)

    def train_epoch(self, X, y):
        self.model.train()
        perm = torch.randperm(len(X))
        losses = []
        for i in range(0, len(X), self.batch_size):
            idx = perm[i:i + self.batch_size]
            self.optimizer.zero_grad()
            loss = self.loss_fn(self.model(X[idx]), y[idx])
            loss.backward()
            self.optimizer.step()
            losses.append(loss.item())
        return float(np.mean(losses))

    def predict(self, X):
        self.model.eval()
        with torch.no_grad():
            return self.model(X).numpy().ravel()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FAULTLENS_SEED", 0)))
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    X, y = load_diabetes(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=args.seed)
    xs, ys = StandardScaler().fit(X_tr), StandardScaler().fit(y_tr.reshape(-1, 1))
    X_tr = torch.tensor(xs.transform(X_tr), dtype=torch.float32)
    X_te = torch.tensor(xs.transform(X_te), dtype=torch.float32)
    y_tr = torch.tensor(ys.transform(y_tr.reshape(-1, 1)), dtype=torch.float32)

    trainer = Trainer(Net(X_tr.shape[1]), lr=args.lr)
    for epoch in range(args.epochs):
        loss = trainer.train_epoch(X_tr, y_tr)
        if epoch % 10 == 9:
            print(f"epoch {epoch + 1} loss {loss:.4f}")
    pred = ys.inverse_transform(trainer.predict(X_te).reshape(-1, 1)).ravel()
    print(f"FINAL_SCORE r2 {r2_score(y_te, pred):.4f}")


if __name__ == "__main__":
    main()
