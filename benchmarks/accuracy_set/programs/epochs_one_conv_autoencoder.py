"""Convolutional autoencoder for 8x8 digit images."""
import argparse

import torch
from torch import nn
from sklearn.datasets import load_digits


class ConvAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(
            nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
        )
        self.dec = nn.Sequential(
            nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(8, 1, 4, stride=2, padding=1), nn.Sigmoid(),
        )

    def forward(self, x):
        return self.dec(self.enc(x))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n-epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=2e-3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)

    imgs = torch.tensor(load_digits().images / 16.0, dtype=torch.float32).unsqueeze(1)
    perm = torch.randperm(len(imgs))
    train, val = imgs[perm[:1400]], imgs[perm[1400:]]
    model = ConvAE()
    optim = torch.optim.Adam(model.parameters(), lr=args.lr)
    for epoch in range(args.n_epochs):
        order = torch.randperm(len(train))
        for i in range(0, len(train), 32):
            xb = train[order[i:i + 32]]
            optim.zero_grad()
            loss = nn.functional.mse_loss(model(xb), xb)
            loss.backward()
            optim.step()
        print(f"epoch {epoch} loss {loss.item():.5f}")
    with torch.no_grad():
        rec = model(val)
    r2 = 1 - ((rec - val) ** 2).sum() / ((val - val.mean(0)) ** 2).sum()
    print(f"FINAL_SCORE recon_r2 {r2.item():.4f}")


if __name__ == "__main__":
    main()
