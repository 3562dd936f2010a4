"""Digits classification with a plain nn.Sequential MLP, written as a module-level script.

Metric: test accuracy (higher is better).
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, TensorDataset

SEED = int(os.environ.get("FAULTLENS_SEED", "0"))
if "--seed" in sys.argv:
    SEED = int(sys.argv[sys.argv.index("--seed") + 1])

torch.set_num_threads(1)
torch.manual_seed(SEED)
np.random.seed(SEED)

LR = 0.05
EPOCHS = 12
BATCH_SIZE = 32

digits = load_digits()
X = digits.data.astype(np.float32) / 16.0
y = digits.target.astype(np.int64)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=SEED)

train_loader = DataLoader(
    TensorDataset(torch.from_numpy(X_train), torch.from_numpy(y_train)),
    batch_size=BATCH_SIZE,
    shuffle=True,
)

model = nn.Sequential(
    nn.Linear(64, 64),
    nn.ReLU(),
    nn.Linear(64, 32),
    nn.ReLU(),
    nn.Linear(32, 10),
)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9)

for epoch in range(EPOCHS):
    model.train()
    total = 0.0
    for xb, yb in train_loader:
        optimizer.zero_grad()
        loss = criterion(model(xb), yb)
        loss.backward()
        optimizer.step()
        total += loss.item() * xb.size(0)
    print(f"epoch {epoch + 1} loss {total / len(train_loader.dataset):.4f}")

model.eval()
with torch.no_grad():
    logits = model(torch.from_numpy(X_test))
    acc = (logits.argmax(dim=1).numpy() == y_test).mean()
print(f"FINAL_SCORE accuracy {acc:.4f}")
