"""Breast-cancer MLP; features and labels split separately."""
import argparse

import torch
import torch.nn as nn
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


def load_split(test_size):
    data = load_breast_cancer()
    X_train, X_test = train_test_split(data.data, test_size=test_size, random_state=0)
    y_train, y_test = train_test_split(data.target, test_size=test_size, random_state=42)
    scaler = StandardScaler().fit(X_train)
    return (torch.tensor(scaler.transform(X_train), dtype=torch.float32),
            torch.tensor(scaler.transform(X_test), dtype=torch.float32),
            torch.tensor(y_train, dtype=torch.float32),
            torch.tensor(y_test, dtype=torch.float32))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--test-size", type=float, default=0.25)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=1e-3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    X_train, X_test, y_train, y_test = load_split(args.test_size)
    model = nn.Sequential(nn.Linear(30, 32), nn.ReLU(), nn.Linear(32, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    criterion = nn.BCEWithLogitsLoss()
    for epoch in range(args.epochs):
        perm = torch.randperm(len(X_train))
        for i in range(0, len(X_train), 32):
            idx = perm[i:i + 32]
            optimizer.zero_grad()
            loss = criterion(model(X_train[idx]).squeeze(-1), y_train[idx])
            loss.backward()
            optimizer.step()
        if epoch % 10 == 0:
            print(f"epoch {epoch} loss {loss.item():.4f}")
    with torch.no_grad():
        acc = ((model(X_test).squeeze(-1) > 0).float() == y_test).float().mean().item()
    print(f"FINAL_SCORE val_accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
