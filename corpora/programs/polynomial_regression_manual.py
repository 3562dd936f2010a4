"""Cubic polynomial fitted by hand-written gradient descent on raw tensors (requires_grad=True,
w.grad.zero_(), updates under torch.no_grad()); no nn.Module and no optimizer object.

Data: torch.randn/torch.rand with a seeded generator. Metric: negative test MSE (higher is better).
"""
import os
import sys

import numpy as np
import torch

seed = int(os.environ.get("FAULTLENS_SEED", "0"))
argv = sys.argv[1:]
if "--seed" in argv:
    seed = int(argv[argv.index("--seed") + 1])

torch.set_num_threads(1)
torch.manual_seed(seed)
np.random.seed(seed)
gen = torch.Generator().manual_seed(seed)

true_coef = torch.tensor([0.5, -1.0, 0.3, 0.8])
x = torch.rand(500, generator=gen) * 4 - 2
features = torch.stack([x ** k for k in range(4)], dim=1)
y = features @ true_coef + 0.2 * torch.randn(500, generator=gen)
x_train, y_train = features[:400], y[:400]
x_test, y_test = features[400:], y[400:]

w = torch.zeros(4, requires_grad=True)
lr = 0.01
for it in range(1500):
    pred = x_train @ w
    loss = ((pred - y_train) ** 2).mean()
    loss.backward()
    with torch.no_grad():
        w -= lr * w.grad
    w.grad.zero_()
    if it % 300 == 0:
        print(f"iter {it} mse {loss.item():.4f}")

with torch.no_grad():
    test_mse = ((x_test @ w - y_test) ** 2).mean().item()
print(f"FINAL_SCORE neg_mse {-test_mse:.5f}")
