"""Variational autoencoder on digits: reparameterisation trick, Bernoulli (BCE) reconstruction
term plus KL divergence, Adam.

Metric: negative per-pixel reconstruction MSE of the posterior mean on held-out digits
(higher is better).
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits


class VAE(nn.Module):
    def __init__(self, d_in=64, hidden=48, latent=8):
        super().__init__()
        self.enc = nn.Linear(d_in, hidden)
        self.mu = nn.Linear(hidden, latent)
        self.logvar = nn.Linear(hidden, latent)
        self.dec1 = nn.Linear(latent, hidden)
        self.dec2 = nn.Linear(hidden, d_in)

    def encode(self, x):
        h = F.relu(self.enc(x))
        return self.mu(h), self.logvar(h)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        return mu + torch.randn_like(std) * std

    def decode(self, z):
        return torch.sigmoid(self.dec2(F.relu(self.dec1(z))))

    def forward(self, x):
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar


def vae_loss(recon, x, mu, logvar):
    bce = F.binary_cross_entropy(recon, x, reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return (bce + kld) / x.size(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=int(os.environ.get("FAULTLENS_SEED", 0)))
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    X = load_digits().data.astype(np.float32) / 16.0
    idx = np.random.permutation(len(X))
    X_train = torch.from_numpy(X[idx[:1400]])
    X_test = torch.from_numpy(X[idx[1400:]])

    model = VAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(X_train))
        total = 0.0
        for i in range(0, len(perm), args.batch_size):
            xb = X_train[perm[i:i + args.batch_size]]
            optimizer.zero_grad()
            recon, mu, logvar = model(xb)
            loss = vae_loss(recon, xb, mu, logvar)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(xb)
        if epoch % 10 == 0:
            print(f"epoch {epoch} neg-ELBO {total / len(X_train):.3f}")

    model.eval()
    with torch.no_grad():
        mu, _ = model.encode(X_test)
        mse = F.mse_loss(model.decode(mu), X_test).item()
    print(f"FINAL_SCORE neg_mse {-mse:.5f}")


if __name__ == "__main__":
    main()
