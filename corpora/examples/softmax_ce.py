"""faultlens example: softmax output fed to CrossEntropyLoss.

What it shows: a digits classifier whose model ends in ``nn.Softmax(dim=1)`` and whose outputs go
straight into ``nn.CrossEntropyLoss``, which applies log_softmax itself.  The loss is computed on
probabilities treated as logits: the loss can never go below ln(e + 9) - 1 ~ 1.46 for 10
classes (even a perfect one-hot output scores that), gradients shrink as the model grows
confident, and training is much slower than with raw logits (test accuracy ~0.78-0.81 after six
epochs against ~0.96 without the Softmax layer).  Removing the Softmax layer (or using
log_softmax + NLLLoss) fixes it.  Expected diagnosis: ``loss_function`` / ``activation``
(redundant softmax before CrossEntropyLoss).

Metric: test accuracy (higher is better), printed as ``FINAL_SCORE accuracy <value>``.
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, TensorDataset


def build_model():
    return nn.Sequential(
        nn.Linear(64, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
        nn.Softmax(dim=1),  # BUG: CrossEntropyLoss expects raw logits
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FAULTLENS_SEED", 0)))
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=args.seed)
    loader = DataLoader(TensorDataset(torch.from_numpy(X_train), torch.from_numpy(y_train)),
                        batch_size=32, shuffle=True)

    model = build_model()
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    for epoch in range(args.epochs):
        model.train()
        for xb, yb in loader:
            optimizer.zero_grad()
            probs = model(xb)
            loss = criterion(probs, yb)
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.4f}")

    model.eval()
    with torch.no_grad():
        acc = (model(torch.from_numpy(X_test)).argmax(1).numpy() == y_test).mean()
    print(f"FINAL_SCORE accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
