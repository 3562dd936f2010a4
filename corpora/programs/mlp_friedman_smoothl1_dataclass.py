"""Friedman #1 regression with a dataclass config, GELU MLP, SmoothL1Loss and AdamW.

Metric: R^2 on the validation split (higher is better).
"""
import argparse
import os
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import make_friedman1
from torch.utils.data import DataLoader, TensorDataset


@dataclass
class TrainConfig:
    seed: int = 0
    n_samples: int = 600
    hidden: int = 64
    lr: float = 5e-3
    weight_decay: float = 1e-2
    epochs: int = 40
    batch_size: int = 32
    val_fraction: float = 0.25
    betas: tuple = field(default=(0.9, 0.999))


class FriedmanMLP(nn.Module):
    def __init__(self, cfg: TrainConfig):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(10, cfg.hidden),
            nn.GELU(),
            nn.Linear(cfg.hidden, cfg.hidden),
            nn.GELU(),
            nn.Linear(cfg.hidden, 1),
        )

    def forward(self, x):
        return self.net(x)


def make_data(cfg: TrainConfig):
    X, y = make_friedman1(n_samples=cfg.n_samples, noise=0.5, random_state=cfg.seed)
    y = (y - y.mean()) / y.std()
    X = torch.tensor(X, dtype=torch.float32)
    y = torch.tensor(y, dtype=torch.float32).unsqueeze(-1)
    n_val = int(len(X) * cfg.val_fraction)
    return (X[n_val:], y[n_val:]), (X[:n_val], y[:n_val])


def fit(cfg: TrainConfig) -> float:
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    (X_tr, y_tr), (X_val, y_val) = make_data(cfg)
    loader = DataLoader(TensorDataset(X_tr, y_tr), batch_size=cfg.batch_size, shuffle=True)
    model = FriedmanMLP(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=cfg.betas,
                            weight_decay=cfg.weight_decay)
    loss_fn = nn.SmoothL1Loss()
    for epoch in range(cfg.epochs):
        model.train()
        for xb, yb in loader:
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()
            opt.step()
        if (epoch + 1) % 10 == 0:
            model.eval()
            with torch.no_grad():
                print(f"epoch {epoch + 1} val_loss {loss_fn(model(X_val), y_val).item():.4f}")
    model.eval()
    with torch.no_grad():
        pred = model(X_val)
    return 1.0 - (((pred - y_val) ** 2).sum() / ((y_val - y_val.mean()) ** 2).sum()).item()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FAULTLENS_SEED", 0)))
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    ns = parser.parse_args()
    torch.set_num_threads(1)
    cfg = TrainConfig(seed=ns.seed, epochs=ns.epochs)
    print(f"FINAL_SCORE r2 {fit(cfg):.4f}")
