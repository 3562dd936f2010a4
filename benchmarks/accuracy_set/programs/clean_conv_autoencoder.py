"""Convolutional autoencoder on digits, trained to convergence."""
import argparse

import torch
from torch import nn
from sklearn.datasets import load_digits


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)

    def forward(self, x):
        return torch.relu(self.conv2(torch.relu(self.conv1(x))))


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.up1 = nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1)
        self.up2 = nn.ConvTranspose2d(8, 1, 4, stride=2, padding=1)

    def forward(self, z):
        return torch.sigmoid(self.up2(torch.relu(self.up1(z))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(1)

    imgs = torch.tensor(load_digits().images / 16.0, dtype=torch.float32).unsqueeze(1)
    perm = torch.randperm(len(imgs))
    train, val = imgs[perm[:1400]], imgs[perm[1400:]]
    enc, dec = Encoder(), Decoder()
    opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=args.lr)
    for epoch in range(args.epochs):
        order = torch.randperm(len(train))
        for i in range(0, len(train), args.batch_size):
            xb = train[order[i:i + args.batch_size]]
            opt.zero_grad()
            loss = nn.functional.mse_loss(dec(enc(xb)), xb)
            loss.backward()
            opt.step()
        if epoch % 5 == 0:
            print(f"epoch {epoch} loss {loss.item():.5f}")
    with torch.no_grad():
        rec = dec(enc(val))
    r2 = 1 - ((rec - val) ** 2).sum() / ((val - val.mean(0)) ** 2).sum()
    print(f"FINAL_SCORE recon_r2 {r2.item():.4f}")


if __name__ == "__main__":
    main()
