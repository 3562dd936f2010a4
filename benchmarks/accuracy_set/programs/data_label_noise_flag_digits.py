"""Digits MLP; optional label-noise injection for robustness experiments."""
import argparse

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


def corrupt_labels(y, rate, n_classes, seed):
    rng = np.random.default_rng(seed)
    y = y.copy()
    flip = rng.random(len(y)) < rate
    y[flip] = (y[flip] + rng.integers(1, n_classes, flip.sum())) % n_classes
    return y


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--label-noise", type=float, default=0.8)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)

    X, y = load_digits(return_X_y=True)
    X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.25, random_state=args.seed)
    y_tr = corrupt_labels(y_tr, args.label_noise, 10, args.seed)
    sc = StandardScaler().fit(X_tr)
    X_tr = torch.tensor(sc.transform(X_tr), dtype=torch.float32)
    X_va = torch.tensor(sc.transform(X_va), dtype=torch.float32)
    y_tr, y_va = torch.tensor(y_tr), torch.tensor(y_va)

    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    criterion = nn.CrossEntropyLoss()
    for epoch in range(args.epochs):
        perm = torch.randperm(len(X_tr))
        for i in range(0, len(X_tr), 32):
            idx = perm[i:i + 32]
            optimizer.zero_grad()
            loss = criterion(model(X_tr[idx]), y_tr[idx])
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            acc = (model(X_va).argmax(1) == y_va).float().mean().item()
        print(f"epoch {epoch} train loss {loss.item():.4f} val_acc {acc:.4f}")
    print(f"FINAL_SCORE val_accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
