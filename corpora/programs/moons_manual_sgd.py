"""Two-moons classifier trained with hand-written SGD updates (p.data.add_) and no optimizer.

Metric: test accuracy (higher is better).
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import make_moons

SEED = int(os.environ.get("FAULTLENS_SEED", 0))
for i, a in enumerate(sys.argv):
    if a == "--seed":
        SEED = int(sys.argv[i + 1])

torch.set_num_threads(1)
torch.manual_seed(SEED)
np.random.seed(SEED)

X, y = make_moons(n_samples=640, noise=0.2, random_state=SEED)
X = torch.tensor(X, dtype=torch.float32)
y = torch.tensor(y, dtype=torch.float32)
X_train, y_train = X[:480], y[:480]
X_test, y_test = X[480:], y[480:]


class MoonNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(2, 32)
        self.l2 = nn.Linear(32, 32)
        self.l3 = nn.Linear(32, 1)

    def forward(self, x):
        h = torch.tanh(self.l1(x))
        h = torch.tanh(self.l2(h))
        return self.l3(h).squeeze(-1)


model = MoonNet()
loss_fn = nn.BCEWithLogitsLoss()
learning_rate = 0.2
batch_size = 32

for epoch in range(60):
    perm = torch.randperm(len(X_train))
    for start in range(0, len(X_train), batch_size):
        idx = perm[start:start + batch_size]
        loss = loss_fn(model(X_train[idx]), y_train[idx])
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-learning_rate)
    if epoch % 20 == 0:
        print(f"epoch {epoch} loss {loss.item():.4f}")

with torch.no_grad():
    acc = ((model(X_test) > 0).float() == y_test).float().mean().item()
print(f"FINAL_SCORE accuracy {acc:.4f}")
