"""Digits read as a sequence of 8 row tokens by a small nn.TransformerEncoder with a [CLS] token.

Metric: test accuracy (higher is better).
"""
import os
import sys
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


@dataclass
class Config:
    seed: int = 0
    d_model: int = 32
    heads: int = 2
    layers: int = 1
    lr: float = 2e-3
    epochs: int = 8
    batch_size: int = 32


class RowTransformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.proj = nn.Linear(8, cfg.d_model)
        self.cls_token = nn.Parameter(torch.randn(1, 1, cfg.d_model) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, 9, cfg.d_model) * 0.02)
        enc_layer = nn.TransformerEncoderLayer(d_model=cfg.d_model, nhead=cfg.heads,
                                               dim_feedforward=2 * cfg.d_model, dropout=0.1,
                                               activation="gelu", batch_first=True)
        self.encoder = nn.TransformerEncoder(enc_layer, num_layers=cfg.layers)
        self.norm = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, 10)

    def forward(self, rows):
        tokens = self.proj(rows)
        cls = self.cls_token.expand(rows.size(0), -1, -1)
        h = self.encoder(torch.cat([cls, tokens], dim=1) + self.pos)
        return self.head(self.norm(h[:, 0]))


def train(cfg):
    torch.set_num_threads(1)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    digits = load_digits()
    X = (digits.images / 16.0).astype(np.float32)
    X_tr, X_te, y_tr, y_te = train_test_split(X, digits.target, test_size=0.2, random_state=cfg.seed)
    X_tr, X_te = torch.from_numpy(X_tr), torch.from_numpy(X_te)
    y_tr, y_te = torch.from_numpy(y_tr), torch.from_numpy(y_te)

    model = RowTransformer(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    crit = nn.CrossEntropyLoss()
    for epoch in range(cfg.epochs):
        model.train()
        perm = torch.randperm(len(X_tr))
        for i in range(0, len(perm), cfg.batch_size):
            b = perm[i:i + cfg.batch_size]
            opt.zero_grad()
            loss = crit(model(X_tr[b]), y_tr[b])
            loss.backward()
            opt.step()
        print(f"epoch {epoch + 1} loss {loss.item():.4f}")
    model.eval()
    with torch.no_grad():
        return (model(X_te).argmax(1) == y_te).float().mean().item()


if __name__ == "__main__":
    cfg = Config(seed=int(os.environ.get("FAULTLENS_SEED", 0)))
    if "--seed" in sys.argv:
        cfg.seed = int(sys.argv[sys.argv.index("--seed") + 1])
    print(f"FINAL_SCORE accuracy {train(cfg):.4f}")
