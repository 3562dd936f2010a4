"""Concentric circles (make_circles) with a Sigmoid-activated MLP, Adam, CrossEntropyLoss.

Metric: test accuracy (higher is better).
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import make_circles
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, TensorDataset

SEED = int(os.environ.get("FAULTLENS_SEED", 0))
if len(sys.argv) > 2 and sys.argv[1] == "--seed":
    SEED = int(sys.argv[2])
LEARNING_RATE = 0.02
EPOCHS = 40

torch.set_num_threads(1)
torch.manual_seed(SEED)
np.random.seed(SEED)

X, y = make_circles(n_samples=600, noise=0.1, factor=0.5, random_state=SEED)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=SEED)
train_loader = DataLoader(
    TensorDataset(torch.Tensor(X_train), torch.LongTensor(y_train)), batch_size=25, shuffle=True
)

model = nn.Sequential(
    nn.Linear(2, 16),
    nn.Sigmoid(),
    nn.Linear(16, 16),
    nn.Sigmoid(),
    nn.Linear(16, 2),
)
optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
criterion = nn.CrossEntropyLoss()

for epoch in range(EPOCHS):
    for xb, yb in train_loader:
        optimizer.zero_grad()
        loss = criterion(model(xb), yb)
        loss.backward()
        optimizer.step()
    if epoch % 10 == 9:
        print(f"epoch {epoch + 1} loss {loss.item():.4f}")

with torch.no_grad():
    predicted = model(torch.Tensor(X_test)).argmax(dim=1).numpy()
print(f"FINAL_SCORE accuracy {(predicted == y_test).mean():.4f}")
