"""Digits MLP split over two files (model.py holds Net and Trainer); AdamW with a OneCycleLR
schedule stepped per batch; argparse with '-lr'/'--learning-rate' aliases and dest=.

Metric: test accuracy (higher is better).
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch.utils.data import DataLoader, TensorDataset

from model import Net, Trainer

parser = argparse.ArgumentParser()
parser.add_argument("-lr", "--learning-rate", dest="lr", type=float, default=5e-3)
parser.add_argument("-ep", "--epochs", dest="epochs", type=int, default=8)
parser.add_argument("-bs", "--batch-size", dest="batch_size", type=int, default=64)
parser.add_argument("--hidden-size", dest="hidden", type=int, default=128)
parser.add_argument("--seed", type=int, default=int(os.environ.get("FAULTLENS_SEED", 0)))


def main():
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=args.seed)
    scaler = StandardScaler().fit(X_train)
    X_train = torch.tensor(scaler.transform(X_train), dtype=torch.float32)
    X_test = torch.tensor(scaler.transform(X_test), dtype=torch.float32)
    y_train, y_test = torch.tensor(y_train), torch.tensor(y_test)
    loader = DataLoader(TensorDataset(X_train, y_train), batch_size=args.batch_size, shuffle=True)

    model = Net(hidden=args.hidden)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=len(loader)
    )
    trainer = Trainer(model, optimizer, scheduler, nn.CrossEntropyLoss())
    for epoch in range(args.epochs):
        loss = trainer.fit_epoch(loader)
        print(f"epoch {epoch + 1}: mean loss {loss:.4f}")
    print(f"FINAL_SCORE accuracy {trainer.accuracy(X_test, y_test):.4f}")


if __name__ == "__main__":
    main()
