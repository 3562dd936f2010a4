"""Conv1d over digit images read as 8-step sequences of 8-pixel rows; SGD with momentum.

Metric: test accuracy (higher is better).
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_digits

parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int, default=int(os.environ.get("FAULTLENS_SEED", 0)))
parser.add_argument("--lr", type=float, default=0.05)
parser.add_argument("--epochs", type=int, default=10)
args = parser.parse_args()

torch.set_num_threads(1)
torch.manual_seed(args.seed)
np.random.seed(args.seed)

digits = load_digits()
# (N, 8 rows, 8 cols) -> channels = columns, length = rows
X = torch.tensor(digits.images / 16.0, dtype=torch.float32).transpose(1, 2)
y = torch.tensor(digits.target, dtype=torch.long)
perm = torch.randperm(len(X))
X, y = X[perm], y[perm]
n_test = 360
X_test, y_test = X[:n_test], y[:n_test]
X_train, y_train = X[n_test:], y[n_test:]


class RowConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(8, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv1d(32, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool1d(2),
        )
        self.classifier = nn.Linear(64, 10)

    def forward(self, x):
        return self.classifier(self.features(x).view(x.size(0), -1))


model = RowConvNet()
optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
criterion = nn.CrossEntropyLoss()
batch_size = 64

for epoch in range(args.epochs):
    model.train()
    order = torch.randperm(len(X_train))
    for i in range(0, len(order), batch_size):
        b = order[i:i + batch_size]
        optimizer.zero_grad()
        loss = criterion(model(X_train[b]), y_train[b])
        loss.backward()
        optimizer.step()
    print(f"epoch {epoch}: loss {loss.item():.3f}")

model.eval()
with torch.no_grad():
    accuracy = (model(X_test).argmax(-1) == y_test).float().mean()
print(f"FINAL_SCORE accuracy {accuracy.item():.4f}")
