"""faultlens example: the training loop never calls optimizer.zero_grad().

What it shows: a digits classifier (MLP + SGD with momentum) whose loop calls loss.backward() and
optimizer.step() but forgets ``optimizer.zero_grad()``.  PyTorch accumulates gradients into
``.grad``, so every step applies the sum of all gradients seen so far: the effective step grows
linearly with the step count and, amplified by momentum, the loss grows by orders of magnitude
(to ~1e9-1e13 within six epochs).  Test accuracy ends around 0.65-0.70, against ~0.96-0.97 for
the same program with the call restored (add ``optimizer.zero_grad()`` before
``loss.backward()``).  Expected diagnosis: ``training_loop``.

Metric: test accuracy (higher is better), printed as ``FINAL_SCORE accuracy <value>``.
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.02)
parser.add_argument("--epochs", type=int, default=6)
parser.add_argument("--momentum", type=float, default=0.9)
parser.add_argument("--seed", type=int, default=int(os.environ.get("FAULTLENS_SEED", 0)))
args = parser.parse_args()

torch.set_num_threads(1)
torch.manual_seed(args.seed)
np.random.seed(args.seed)

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y,
                                                    random_state=args.seed)
scaler = StandardScaler().fit(X_train)
X_train = torch.tensor(scaler.transform(X_train), dtype=torch.float32)
X_test = torch.tensor(scaler.transform(X_test), dtype=torch.float32)
y_train = torch.tensor(y_train)
y_test = torch.tensor(y_test)

model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)

batch_size = 32
for epoch in range(args.epochs):
    model.train()
    perm = torch.randperm(len(X_train))
    for i in range(0, len(perm), batch_size):
        idx = perm[i:i + batch_size]
        loss = criterion(model(X_train[idx]), y_train[idx])
        loss.backward()  # BUG: gradients from every previous step are still in .grad
        optimizer.step()
    print(f"epoch {epoch + 1}: loss {loss.item():.4f}")

model.eval()
with torch.no_grad():
    acc = (model(X_test).argmax(1) == y_test).float().mean().item()
print(f"FINAL_SCORE accuracy {acc:.4f}")
