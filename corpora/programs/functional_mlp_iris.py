"""Iris classifier written functionally: parameters are explicit nn.Parameter tensors and the
forward pass uses F.linear / torch.relu directly. Plain SGD, CrossEntropyLoss via F.cross_entropy.

Metric: test accuracy (higher is better).
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_iris

seed = int(os.environ.get("FAULTLENS_SEED", "0"))
if "--seed" in sys.argv:
    seed = int(sys.argv[sys.argv.index("--seed") + 1])
torch.set_num_threads(1)
torch.manual_seed(seed)
np.random.seed(seed)


def init_linear(fan_in, fan_out):
    bound = 1.0 / math.sqrt(fan_in)
    w = torch.nn.Parameter(torch.empty(fan_out, fan_in).uniform_(-bound, bound))
    b = torch.nn.Parameter(torch.zeros(fan_out))
    return w, b


params = {}
params["w1"], params["b1"] = init_linear(4, 20)
params["w2"], params["b2"] = init_linear(20, 3)


def forward(x, p):
    h = torch.relu(F.linear(x, p["w1"], p["b1"]))
    return F.linear(h, p["w2"], p["b2"])


iris = load_iris()
X = torch.tensor(iris.data, dtype=torch.float32)
y = torch.tensor(iris.target, dtype=torch.long)
idx = torch.randperm(len(X))
train_idx, test_idx = idx[:105], idx[105:]
mean, std = X[train_idx].mean(0), X[train_idx].std(0)
X = (X - mean) / std

optimizer = torch.optim.SGD(params.values(), lr=0.1)
for epoch in range(100):
    for chunk in train_idx.split(15):
        logits = forward(X[chunk], params)
        loss = F.cross_entropy(logits, y[chunk])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    if epoch % 25 == 0:
        print(f"epoch {epoch} loss {loss.item():.4f}")

with torch.no_grad():
    correct = (forward(X[test_idx], params).argmax(1) == y[test_idx]).sum().item()
print(f"FINAL_SCORE accuracy {correct / len(test_idx):.4f}")
