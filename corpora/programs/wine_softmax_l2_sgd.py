"""Softmax regression on wine with an explicit L2 penalty summed over parameters inside the
training loop, plain SGD, CrossEntropyLoss, z-scored features computed with torch.

Metric: test accuracy (higher is better).
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_wine

SEED = int(os.environ.get("FAULTLENS_SEED", 0))
if "--seed" in sys.argv[1:]:
    SEED = int(sys.argv[sys.argv.index("--seed") + 1])
L2 = 1e-3

torch.set_num_threads(1)
torch.manual_seed(SEED)
np.random.seed(SEED)

wine = load_wine()
X = torch.tensor(wine.data, dtype=torch.float32)
y = torch.tensor(wine.target, dtype=torch.long)
perm = torch.randperm(len(X))
train_idx, test_idx = perm[:130], perm[130:]
X_mean = X[train_idx].mean(dim=0, keepdim=True)
X_std = X[train_idx].std(dim=0, keepdim=True)
X = (X - X_mean) / X_std

model = nn.Linear(13, 3)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

for epoch in range(30):
    for batch in train_idx[torch.randperm(len(train_idx))].split(13):
        optimizer.zero_grad()
        loss = criterion(model(X[batch]), y[batch])
        loss = loss + L2 * sum(p.pow(2).sum() for p in model.parameters())
        loss.backward()
        optimizer.step()
    if epoch % 10 == 0:
        print(f"epoch {epoch}: loss {loss.item():.4f}")

with torch.no_grad():
    acc = (model(X[test_idx]).argmax(1) == y[test_idx]).float().mean().item()
print(f"FINAL_SCORE accuracy {acc:.4f}")
