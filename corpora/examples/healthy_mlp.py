"""faultlens example: a healthy training program.

What it shows: a clean breast-cancer classifier with nothing wrong in it -- standardised inputs,
a small ReLU MLP with a logit output, BCEWithLogitsLoss, Adam at a normal learning rate,
zero_grad/backward/step in the right order, and evaluation under model.eval() + torch.no_grad().
faultlens should report it as healthy; use it as the reference point for the faulty examples.

Metric: test accuracy (higher is better), printed as ``FINAL_SCORE accuracy <value>``
(typically 0.95-0.99).
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch.utils.data import DataLoader, TensorDataset


class Classifier(nn.Module):
    def __init__(self, n_features, hidden=32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 1),
        )

    def forward(self, x):
        return self.net(x).squeeze(-1)


def main():
    parser = argparse.ArgumentParser(description="healthy breast-cancer classifier")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FAULTLENS_SEED", 0)))
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=args.seed
    )
    scaler = StandardScaler().fit(X_train)
    X_train = torch.tensor(scaler.transform(X_train), dtype=torch.float32)
    X_test = torch.tensor(scaler.transform(X_test), dtype=torch.float32)
    y_train = torch.tensor(y_train, dtype=torch.float32)
    y_test = torch.tensor(y_test, dtype=torch.float32)
    loader = DataLoader(TensorDataset(X_train, y_train), batch_size=args.batch_size, shuffle=True)

    model = Classifier(X_train.shape[1])
    criterion = nn.BCEWithLogitsLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

    for epoch in range(args.epochs):
        model.train()
        total = 0.0
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(xb)
        if epoch % 5 == 4:
            print(f"epoch {epoch + 1}: loss {total / len(X_train):.4f}")

    model.eval()
    with torch.no_grad():
        acc = ((model(X_test) > 0).float() == y_test).float().mean().item()
    print(f"FINAL_SCORE accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
