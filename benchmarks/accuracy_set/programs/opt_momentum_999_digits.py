"""Digits MLP written with explicit parameters and a functional forward pass."""
import math

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

torch.set_num_threads(1)
torch.manual_seed(0)

X, y = load_digits(return_X_y=True)
X = X / 16.0 - 0.5
Xtr, Xva, ytr, yva = train_test_split(X, y, test_size=0.25, random_state=3)
Xtr, Xva = torch.tensor(Xtr, dtype=torch.float32), torch.tensor(Xva, dtype=torch.float32)
ytr, yva = torch.tensor(ytr), torch.tensor(yva)


def linear_params(n_in, n_out):
    bound = 1.0 / math.sqrt(n_in)
    w = torch.empty(n_out, n_in).uniform_(-bound, bound).requires_grad_()
    b = torch.zeros(n_out, requires_grad=True)
    return [w, b]


params = linear_params(64, 64) + linear_params(64, 64) + linear_params(64, 10)


def forward(x, p):
    h = F.relu(F.linear(x, p[0], p[1]))
    h = F.relu(F.linear(h, p[2], p[3]))
    return F.linear(h, p[4], p[5])


optimizer = torch.optim.SGD(params, lr=0.05, momentum=0.999)

for epoch in range(12):
    perm = torch.randperm(len(Xtr))
    for i in range(0, len(Xtr), 32):
        b = perm[i:i + 32]
        optimizer.zero_grad()
        loss = F.cross_entropy(forward(Xtr[b], params), ytr[b])
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        acc = (forward(Xva, params).argmax(1) == yva).float().mean().item()
    print(f"epoch {epoch} loss {loss.item():.4f} val_acc {acc:.3f}")

print(f"FINAL_SCORE val_accuracy {acc:.4f}")
