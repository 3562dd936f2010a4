"""Breast cancer binary classifier: module-level script, sigmoid output + BCELoss, plain SGD.

Metric: test F1 score of the positive (benign) class (higher is better).
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split

parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int, default=int(os.environ.get("FAULTLENS_SEED", 0)))
args, _ = parser.parse_known_args()

torch.set_num_threads(1)
torch.manual_seed(args.seed)
np.random.seed(args.seed)

X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=args.seed)
mu = X_train.mean(0)
sigma = X_train.std(0)
X_train = torch.FloatTensor((X_train - mu) / sigma)
X_test = torch.FloatTensor((X_test - mu) / sigma)
y_train = torch.FloatTensor(y_train).view(-1, 1)

net = nn.Sequential(
    nn.Linear(30, 16),
    nn.ReLU(),
    nn.Linear(16, 1),
    nn.Sigmoid(),
)
loss_fn = nn.BCELoss()
opt = torch.optim.SGD(net.parameters(), lr=0.1)

batch = 32
for epoch in range(25):
    order = np.random.permutation(len(X_train))
    running = 0.0
    for k in range(0, len(order), batch):
        ids = order[k:k + batch]
        out = net(X_train[ids])
        loss = loss_fn(out, y_train[ids])
        opt.zero_grad()
        loss.backward()
        opt.step()
        running += loss.item()
    if epoch % 5 == 4:
        print("epoch", epoch + 1, "loss", round(running / (len(order) / batch), 4))

net.eval()
with torch.no_grad():
    predictions = (net(X_test) > 0.5).int().view(-1).numpy()
print(f"FINAL_SCORE f1 {f1_score(y_test, predictions):.4f}")
