"""Digits CNN assembled from a CONFIG dict: nn.Sequential with Conv2d + BatchNorm2d + LeakyReLU,
nn.Flatten, Adam with weight decay, manual batching over a shuffled index.

Metric: test accuracy (higher is better).
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

CONFIG = dict(
    channels=(8, 16),
    kernel_size=3,
    negative_slope=0.01,
    lr=2e-3,
    weight_decay=5e-4,
    epochs=5,
    batch_size=48,
)


def build_model(cfg):
    c1, c2 = cfg["channels"]
    k = cfg["kernel_size"]
    return nn.Sequential(
        nn.Conv2d(1, c1, k, padding=1),
        nn.BatchNorm2d(c1),
        nn.LeakyReLU(cfg["negative_slope"]),
        nn.Conv2d(c1, c2, k, padding=1),
        nn.BatchNorm2d(c2),
        nn.LeakyReLU(cfg["negative_slope"]),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(c2 * 16, 10),
    )


def main(cfg, seed):
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    np.random.seed(seed)
    digits = load_digits()
    X = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(digits.target)
    idx_train, idx_test = train_test_split(np.arange(len(X)), test_size=0.25, random_state=seed)
    X_train, y_train = X[idx_train], y[idx_train]
    X_test, y_test = X[idx_test], y[idx_test]

    model = build_model(cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    loss_fn = nn.CrossEntropyLoss()
    bs = cfg["batch_size"]
    for epoch in range(cfg["epochs"]):
        model.train()
        shuffled = np.random.permutation(len(X_train))
        for start in range(0, len(shuffled), bs):
            b = torch.from_numpy(shuffled[start:start + bs])
            optimizer.zero_grad()
            loss = loss_fn(model(X_train[b]), y_train[b])
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.4f}")
    model.eval()
    with torch.no_grad():
        return (model(X_test).argmax(1) == y_test).float().mean().item()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FAULTLENS_SEED", 0)))
    parser.add_argument("--lr", type=float, default=CONFIG["lr"])
    cli = parser.parse_args()
    CONFIG["lr"] = cli.lr
    print(f"FINAL_SCORE accuracy {main(CONFIG, cli.seed):.4f}")
