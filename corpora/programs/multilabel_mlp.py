"""Multi-label classification on make_multilabel_classification: one logit per label,
BCEWithLogitsLoss, Adam, DataLoader. Labels are predicted independently with threshold 0.5.

Metric: micro-averaged F1 on the test split (higher is better).
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import make_multilabel_classification
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, TensorDataset

N_LABELS = 5


def build(n_features, n_labels):
    return nn.Sequential(
        nn.Linear(n_features, 64),
        nn.ReLU(),
        nn.Dropout(0.1),
        nn.Linear(64, n_labels),
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=int(os.environ.get("FAULTLENS_SEED", 0)))
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--epochs", type=int, default=25)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    X, Y = make_multilabel_classification(n_samples=800, n_features=20, n_classes=N_LABELS,
                                          n_labels=2, random_state=args.seed)
    X = np.log1p(X)
    X_tr, X_te, Y_tr, Y_te = train_test_split(X, Y, test_size=0.25, random_state=args.seed)
    mean, std = X_tr.mean(0), X_tr.std(0) + 1e-6
    X_tr = torch.tensor((X_tr - mean) / std, dtype=torch.float32)
    X_te = torch.tensor((X_te - mean) / std, dtype=torch.float32)
    Y_tr = torch.tensor(Y_tr, dtype=torch.float32)

    loader = DataLoader(TensorDataset(X_tr, Y_tr), batch_size=32, shuffle=True)
    model = build(X.shape[1], N_LABELS)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    criterion = nn.BCEWithLogitsLoss()
    for epoch in range(args.epochs):
        model.train()
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
        if epoch % 5 == 4:
            print(f"epoch {epoch + 1} bce {loss.item():.4f}")

    model.eval()
    with torch.no_grad():
        pred = (torch.sigmoid(model(X_te)) > 0.5).int().numpy()
    print(f"FINAL_SCORE f1_micro {f1_score(Y_te, pred, average='micro'):.4f}")


if __name__ == "__main__":
    main()
