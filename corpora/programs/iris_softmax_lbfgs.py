"""Multinomial logistic regression on iris with torch.optim.LBFGS (closure), log_softmax + NLLLoss
and an explicit L2 penalty added to the loss.

Metric: test accuracy (higher is better).
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split

parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int, default=int(os.environ.get("FAULTLENS_SEED", 0)))
parser.add_argument("--l2", type=float, default=1e-3)
parser.add_argument("--steps", type=int, default=10)
args = parser.parse_args()

torch.set_num_threads(1)
torch.manual_seed(args.seed)
np.random.seed(args.seed)

X, y = load_iris(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.4, stratify=y,
                                                    random_state=args.seed)
mu, sd = X_train.mean(0), X_train.std(0)
X_train = torch.tensor((X_train - mu) / sd, dtype=torch.float32)
X_test = torch.tensor((X_test - mu) / sd, dtype=torch.float32)
y_train = torch.tensor(y_train)
y_test = torch.tensor(y_test)

model = nn.Linear(4, 3)
nll = nn.NLLLoss()
optimizer = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=10)


def closure():
    optimizer.zero_grad()
    log_probs = F.log_softmax(model(X_train), dim=1)
    loss = nll(log_probs, y_train) + args.l2 * model.weight.pow(2).sum()
    loss.backward()
    return loss


for step in range(args.steps):
    loss = optimizer.step(closure)
    print(f"step {step} loss {loss.item():.4f}")

with torch.no_grad():
    accuracy = (model(X_test).argmax(1) == y_test).float().mean().item()
print(f"FINAL_SCORE accuracy {accuracy:.4f}")
