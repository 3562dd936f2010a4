"""Digits CNN: model class lives in model.py, training script with argparse aliases and dest=.

Metric: test accuracy (higher is better).
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, TensorDataset

from model import Net


def parse():
    parser = argparse.ArgumentParser("cnn_digits")
    parser.add_argument("-lr", "--learning-rate", dest="learning_rate", type=float, default=1e-3)
    parser.add_argument("--epochs", "-n", dest="n_epochs", type=int, default=8)
    parser.add_argument("--bs", "--batch-size", dest="batch_size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FAULTLENS_SEED", 0)))
    return parser.parse_args()


def load_data(seed):
    digits = load_digits()
    images = digits.images.astype(np.float32) / 16.0
    X_train, X_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=0.2, random_state=seed, stratify=digits.target
    )
    to_t = lambda a: torch.from_numpy(a).unsqueeze(1)
    train = TensorDataset(to_t(X_train), torch.from_numpy(y_train).long())
    test = TensorDataset(to_t(X_test), torch.from_numpy(y_test).long())
    return train, test


def train_one_epoch(model, loader, optimizer, criterion):
    model.train()
    total, count = 0.0, 0
    for images, labels in loader:
        optimizer.zero_grad()
        outputs = model(images)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        total += loss.item() * labels.size(0)
        count += labels.size(0)
    return total / count


@torch.no_grad()
def evaluate(model, loader):
    model.eval()
    correct = total = 0
    for images, labels in loader:
        correct += (model(images).argmax(1) == labels).sum().item()
        total += labels.size(0)
    return correct / total


def main():
    args = parse()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    train_set, test_set = load_data(args.seed)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=256)

    model = Net(channels=args.channels)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    criterion = nn.CrossEntropyLoss()
    for epoch in range(args.n_epochs):
        loss = train_one_epoch(model, train_loader, optimizer, criterion)
        print(f"epoch {epoch + 1}/{args.n_epochs} loss {loss:.4f}")
    print(f"FINAL_SCORE accuracy {evaluate(model, test_loader):.4f}")


if __name__ == "__main__":
    main()
