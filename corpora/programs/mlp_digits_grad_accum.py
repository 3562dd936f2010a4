"""Digits MLP trained with gradient accumulation over micro-batches, Adagrad, Sigmoid hidden units.

Metric: test accuracy (higher is better).
"""
import argparse
import os

import numpy as np
import torch
from torch import nn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler
from torch.utils.data import DataLoader, TensorDataset

parser = argparse.ArgumentParser(description="gradient accumulation example")
parser.add_argument("--seed", type=int, default=int(os.environ.get("FAULTLENS_SEED", 0)))
parser.add_argument("--lr", type=float, default=0.05)
parser.add_argument("--micro-batch", type=int, default=16)
parser.add_argument("--accum-steps", type=int, default=4)
parser.add_argument("--epochs", type=int, default=15)
args = parser.parse_args()

torch.set_num_threads(1)
torch.manual_seed(args.seed)
np.random.seed(args.seed)

X, y = load_digits(return_X_y=True)
X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=args.seed)
scaler = MinMaxScaler().fit(X_tr)
X_tr = scaler.transform(X_tr).astype(np.float32)
X_te = scaler.transform(X_te).astype(np.float32)

loader = DataLoader(TensorDataset(torch.from_numpy(X_tr), torch.from_numpy(y_tr)),
                    batch_size=args.micro_batch, shuffle=True, drop_last=True)

model = nn.Sequential(nn.Linear(64, 48), nn.Sigmoid(), nn.Linear(48, 10))
optimizer = torch.optim.Adagrad(model.parameters(), lr=args.lr)
criterion = nn.CrossEntropyLoss()

for epoch in range(args.epochs):
    model.train()
    optimizer.zero_grad()
    for step, (xb, yb) in enumerate(loader):
        loss = criterion(model(xb), yb) / args.accum_steps
        loss.backward()
        if (step + 1) % args.accum_steps == 0:
            optimizer.step()
            optimizer.zero_grad()
    if epoch % 5 == 0:
        print(f"epoch {epoch} loss {loss.item() * args.accum_steps:.4f}")

model.eval()
with torch.no_grad():
    pred = model(torch.from_numpy(X_te)).argmax(1).numpy()
print(f"FINAL_SCORE accuracy {np.mean(pred == y_te):.4f}")
