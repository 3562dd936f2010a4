"""Denoising autoencoder: Gaussian-corrupted digits in, clean digits out; Tanh encoder,
L1Loss, SGD with momentum. Inputs are scaled to [-1, 1].

Metric: negative MSE between reconstructions of noisy held-out digits and the clean digits
(higher is better).
"""
import argparse
import os

import numpy as np
import torch
from torch import nn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

NOISE_STD = 0.3


class DAE(nn.Module):
    def __init__(self, code=16):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(64, 48), nn.Tanh(), nn.Linear(48, code), nn.Tanh())
        self.decoder = nn.Sequential(nn.Linear(code, 48), nn.Tanh(), nn.Linear(48, 64))

    def forward(self, x):
        return self.decoder(self.encoder(x))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=int(os.environ.get("FAULTLENS_SEED", 0)))
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--epochs", type=int, default=30)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)

    X = load_digits().data / 8.0 - 1.0
    X_tr, X_te = train_test_split(X.astype(np.float32), test_size=0.2, random_state=a.seed)
    X_tr, X_te = torch.from_numpy(X_tr), torch.from_numpy(X_te)

    model = DAE()
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9)
    loss_fn = nn.L1Loss()
    for epoch in range(a.epochs):
        model.train()
        perm = torch.randperm(len(X_tr))
        for i in range(0, len(perm), 32):
            clean = X_tr[perm[i:i + 32]]
            noisy = clean + NOISE_STD * torch.randn_like(clean)
            opt.zero_grad()
            loss = loss_fn(model(noisy), clean)
            loss.backward()
            opt.step()
        if epoch % 10 == 0:
            print(f"epoch {epoch} l1 {loss.item():.4f}")

    model.eval()
    g = torch.Generator().manual_seed(a.seed + 1)
    with torch.no_grad():
        noisy = X_te + NOISE_STD * torch.randn(X_te.shape, generator=g)
        mse = torch.mean((model(noisy) - X_te) ** 2).item()
    print(f"FINAL_SCORE neg_mse {-mse:.5f}")


if __name__ == "__main__":
    main()
