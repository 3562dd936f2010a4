"""faultlens demo: a learning rate that is far too high.

What it shows: a small, otherwise ordinary digits classifier (MLP + SGD with momentum) whose
``--lr`` default is 5.0, about a hundred times what this model needs.  Within the first ten
optimizer steps the loss jumps from ln(10) ~ 2.3 to tens (seed 0: 52.9 at step 8); afterwards it
oscillates between ~2.5 and ~5, never below its starting value, because the huge updates have
killed most ReLU units.  The final test accuracy is at chance level (~0.10).  Run it with a sane
rate (``python demo_lr_too_high.py --lr 0.05``) and it reaches ~0.95 test accuracy.

This is the program ``make demo`` hands to ``faultlens run``; the expected diagnosis is the
``learning_rate`` fault type, localised to the ``--lr`` default / the optimizer construction.

Metric: test accuracy (higher is better), printed as ``FINAL_SCORE accuracy <value>``.
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, TensorDataset


def parse_args():
    parser = argparse.ArgumentParser(description="Train an MLP on the 8x8 digits dataset")
    parser.add_argument("--lr", type=float, default=5.0, help="learning rate for SGD")
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FAULTLENS_SEED", 0)))
    return parser.parse_args()


class MLP(nn.Module):
    def __init__(self, n_in=64, hidden=64, n_classes=10):
        super().__init__()
        self.fc1 = nn.Linear(n_in, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, n_classes)
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.relu(self.fc1(x))
        x = self.relu(self.fc2(x))
        return self.fc3(x)


def main():
    args = parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    digits = load_digits()
    X = digits.data.astype(np.float32) / 16.0
    X_train, X_test, y_train, y_test = train_test_split(
        X, digits.target, test_size=0.2, random_state=args.seed, stratify=digits.target
    )
    train_loader = DataLoader(
        TensorDataset(torch.from_numpy(X_train), torch.from_numpy(y_train)),
        batch_size=args.batch_size, shuffle=True,
    )

    model = MLP()
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)

    step = 0
    for epoch in range(args.epochs):
        model.train()
        for inputs, targets in train_loader:
            optimizer.zero_grad()
            loss = criterion(model(inputs), targets)
            loss.backward()
            optimizer.step()
            if step % 20 == 0:
                print(f"step {step:4d}  loss {loss.item():.4f}")
            step += 1

    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(X_test)).argmax(dim=1).numpy()
    print(f"FINAL_SCORE accuracy {(pred == y_test).mean():.4f}")


if __name__ == "__main__":
    main()
