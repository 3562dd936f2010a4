"""Small CNN on 8x8 digits."""
import argparse

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


class SmallCNN(nn.Module):
    def __init__(self, channels=16):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(channels, 2 * channels, kernel_size=3, padding=1)
        self.fc = nn.Linear(2 * channels * 2 * 2, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(torch.flatten(x, 1))


def load(seed):
    digits = load_digits()
    images = digits.images.astype(np.float32) / 16.0
    images = images[:, None, :, :]
    return train_test_split(images, digits.target, test_size=0.25, random_state=seed)


def evaluate(model, X, y):
    model.eval()
    with torch.no_grad():
        return (model(X).argmax(1) == y).float().mean().item()


def main():
    parser = argparse.ArgumentParser(description="CNN on sklearn digits")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-7)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    X_tr, X_va, y_tr, y_va = load(args.seed)
    X_tr, X_va = torch.tensor(X_tr), torch.tensor(X_va)
    y_tr, y_va = torch.tensor(y_tr), torch.tensor(y_va)

    model = SmallCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(X_tr))
        for i in range(0, len(X_tr), args.batch_size):
            idx = perm[i:i + args.batch_size]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(X_tr[idx]), y_tr[idx])
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch}: last loss {loss.item():.4f} val acc {evaluate(model, X_va, y_va):.3f}")

    print(f"FINAL_SCORE val_accuracy {evaluate(model, X_va, y_va):.4f}")


if __name__ == "__main__":
    main()
