"""Logistic regression written from scratch: parameters as plain tensors, the program's own
``nll`` (bound to ``loss_func``) and manual updates under ``no_grad``; no module, criterion or
optimizer to watch."""
import math

import torch

torch.manual_seed(0)
torch.set_num_threads(1)
centres = torch.randn(4, 8) * 3
y_train = torch.randint(0, 4, (640,))
x_train = centres[y_train] + torch.randn(640, 8)
weights = torch.randn(8, 4) / math.sqrt(8)
weights.requires_grad_()
bias = torch.zeros(4, requires_grad=True)


def nll(input, target):
    return -input[range(target.shape[0]), target].mean()


def model(xb):
    return torch.log_softmax(xb @ weights + bias, dim=1)


loss_func = nll
bs, lr = 16, 0.1
for epoch in range(2):
    for i in range(640 // bs):
        xb, yb = x_train[i * bs:(i + 1) * bs], y_train[i * bs:(i + 1) * bs]
        loss = loss_func(model(xb), yb)
        loss.backward()
        with torch.no_grad():
            weights -= weights.grad * lr
            bias -= bias.grad * lr
            weights.grad.zero_()
            bias.grad.zero_()
