"""Undercomplete autoencoder on digits (64 -> 12 -> 64) with Sigmoid output and MSELoss, Adam.

Metric: negative reconstruction MSE on held-out digits (higher is better).
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader, TensorDataset

p = argparse.ArgumentParser()
p.add_argument("--seed", type=int, default=int(os.environ.get("FAULTLENS_SEED", 0)))
p.add_argument("--latent", type=int, default=12)
p.add_argument("--epochs", type=int, default=25)
p.add_argument("--lr", type=float, default=3e-3)
args = p.parse_args()

torch.set_num_threads(1)
torch.manual_seed(args.seed)
np.random.seed(args.seed)


class AutoEncoder(nn.Module):
    def __init__(self, latent):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, latent))
        self.decoder = nn.Sequential(nn.Linear(latent, 32), nn.ReLU(), nn.Linear(32, 64), nn.Sigmoid())

    def forward(self, x):
        return self.decoder(self.encoder(x))


data = torch.tensor(load_digits().data / 16.0, dtype=torch.float32)
perm = torch.randperm(len(data))
train_x, test_x = data[perm[:1400]], data[perm[1400:]]
loader = DataLoader(TensorDataset(train_x), batch_size=64, shuffle=True)

ae = AutoEncoder(args.latent)
optimizer = torch.optim.Adam(ae.parameters(), lr=args.lr)
mse = nn.MSELoss()
for epoch in range(args.epochs):
    for (batch,) in loader:
        recon = ae(batch)
        loss = mse(recon, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    if epoch % 5 == 0:
        print(f"epoch {epoch} recon {loss.item():.5f}")

ae.eval()
with torch.no_grad():
    test_mse = mse(ae(test_x), test_x).item()
print(f"FINAL_SCORE neg_mse {-test_mse:.5f}")
