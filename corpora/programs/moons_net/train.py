"""Moons classifier (Net in model.py) with RMSprop, a validation split and early stopping that
restores the best state_dict before the final test evaluation.

Metric: test accuracy (higher is better).
"""
import argparse
import copy
import os

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import make_moons
from torch.utils.data import DataLoader, TensorDataset

from model import Net

parser = argparse.ArgumentParser(description="moons with early stopping")
parser.add_argument("--seed", type=int, default=int(os.environ.get("FAULTLENS_SEED", 0)))
parser.add_argument("--learning-rate", "-lr", dest="lr", type=float, default=3e-3)
parser.add_argument("--max-epochs", type=int, default=40)
parser.add_argument("--patience", type=int, default=8)
args = parser.parse_args()

torch.set_num_threads(1)
torch.manual_seed(args.seed)
np.random.seed(args.seed)

X, y = make_moons(n_samples=900, noise=0.3, random_state=args.seed)
X = torch.tensor(X, dtype=torch.float32)
y = torch.tensor(y, dtype=torch.long)
train_ds = TensorDataset(X[:600], y[:600])
X_val, y_val = X[600:750], y[600:750]
X_test, y_test = X[750:], y[750:]
train_loader = DataLoader(train_ds, batch_size=32, shuffle=True)

model = Net()
optimizer = torch.optim.RMSprop(model.parameters(), lr=args.lr)
criterion = nn.CrossEntropyLoss()

best_val, best_state, bad_epochs = float("inf"), None, 0
for epoch in range(args.max_epochs):
    model.train()
    for inputs, targets in train_loader:
        optimizer.zero_grad()
        loss = criterion(model(inputs), targets)
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        val_loss = criterion(model(X_val), y_val).item()
    if val_loss < best_val - 1e-4:
        best_val, best_state, bad_epochs = val_loss, copy.deepcopy(model.state_dict()), 0
    else:
        bad_epochs += 1
    if epoch % 5 == 0:
        print(f"epoch {epoch} train {loss.item():.4f} val {val_loss:.4f}")
    if bad_epochs >= args.patience:
        print(f"early stop at epoch {epoch}")
        break

if best_state is not None:
    model.load_state_dict(best_state)
model.eval()
with torch.no_grad():
    acc = (model(X_test).argmax(1) == y_test).float().mean().item()
print(f"FINAL_SCORE accuracy {acc:.4f}")
