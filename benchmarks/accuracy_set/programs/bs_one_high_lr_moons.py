import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import make_moons

torch.set_num_threads(1)
torch.manual_seed(0)

BATCH_SIZE = 1
LR = 0.2

X, y = make_moons(n_samples=1000, noise=0.2, random_state=0)
X = torch.tensor(X, dtype=torch.float32)
y = torch.tensor(y, dtype=torch.long)
X_train, y_train = X[:800], y[:800]
X_val, y_val = X[800:], y[800:]

net = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2))
optimizer = torch.optim.SGD(net.parameters(), lr=LR, momentum=0.9)
criterion = nn.CrossEntropyLoss()

for epoch in range(4):
    perm = torch.randperm(len(X_train))
    for i in range(0, len(X_train), BATCH_SIZE):
        idx = perm[i:i + BATCH_SIZE]
        optimizer.zero_grad()
        loss = criterion(net(X_train[idx]), y_train[idx])
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        acc = (net(X_val).argmax(1) == y_val).float().mean().item()
    print(f"epoch {epoch} last loss {loss.item():.4f} val acc {acc:.3f}")

print(f"FINAL_SCORE val_accuracy {acc:.4f}")
