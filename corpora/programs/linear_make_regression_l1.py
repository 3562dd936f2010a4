"""Linear regression on make_regression data with L1Loss and plain SGD, full-batch epochs.

Metric: R^2 on the test split (higher is better).
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import make_regression

seed = int(os.environ.get("FAULTLENS_SEED", 0))
args = sys.argv[1:]
if "--seed" in args:
    seed = int(args[args.index("--seed") + 1])

torch.set_num_threads(1)
torch.manual_seed(seed)
np.random.seed(seed)

X, y = make_regression(n_samples=400, n_features=10, n_informative=6, noise=8.0, random_state=seed)
y = y / y.std()
X = torch.tensor(X, dtype=torch.float32)
y = torch.tensor(y, dtype=torch.float32).unsqueeze(1)
split = 300
X_train, X_test = X[:split], X[split:]
y_train, y_test = y[:split], y[split:]

model = nn.Linear(10, 1)
criterion = nn.L1Loss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.05)

for epoch in range(300):
    optimizer.zero_grad()
    loss = criterion(model(X_train), y_train)
    loss.backward()
    optimizer.step()
    if epoch % 50 == 0:
        print(f"epoch {epoch} l1 {loss.item():.4f}")

with torch.no_grad():
    pred = model(X_test)
    r2 = 1 - torch.sum((y_test - pred) ** 2) / torch.sum((y_test - y_test.mean()) ** 2)
print("FINAL_SCORE r2 %.4f" % r2.item())
