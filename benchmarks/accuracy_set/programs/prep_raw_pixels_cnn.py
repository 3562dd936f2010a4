"""CNN on digits images; SGD with momentum."""
import argparse

import numpy as np
import torch
from torch import nn
from sklearn.datasets import load_digits


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Linear(16 * 2 * 2, 10)

    def forward(self, x):
        return self.head(self.body(x).flatten(1))


def prepare(seed):
    digits = load_digits()
    images = digits.images.astype(np.float32)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(images))
    images, labels = images[order], digits.target[order]
    x = torch.from_numpy(images).unsqueeze(1)
    y = torch.from_numpy(labels)
    split = int(0.75 * len(x))
    return x[:split], y[:split], x[split:], y[split:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    x_tr, y_tr, x_va, y_va = prepare(args.seed)
    net = Net()
    opt = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(args.epochs):
        perm = torch.randperm(len(x_tr))
        for i in range(0, len(x_tr), 32):
            idx = perm[i:i + 32]
            opt.zero_grad()
            loss = loss_fn(net(x_tr[idx]), y_tr[idx])
            loss.backward()
            opt.step()
        with torch.no_grad():
            acc = (net(x_va).argmax(1) == y_va).float().mean().item()
        print(f"epoch {epoch}: loss {loss.item():.4f} val_acc {acc:.3f}")
    print(f"FINAL_SCORE val_accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
