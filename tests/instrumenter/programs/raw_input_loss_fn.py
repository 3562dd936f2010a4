"""The program's own loss function takes the raw batch (``compute_loss(x, y)`` runs the model
inside): its arguments are no prediction and target, so only its value is recorded."""
import torch
import torch.nn as nn

torch.manual_seed(0)
torch.set_num_threads(1)
x_all = torch.randn(256, 12)
y_all = (x_all[:, 0] > 0).long()
net = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 2))
opt = torch.optim.SGD(net.parameters(), lr=0.1)


def compute_loss(x, y):
    return nn.functional.cross_entropy(net(x), y)


for it in range(40):
    xb, yb = x_all[(it * 32) % 256:(it * 32) % 256 + 32], y_all[(it * 32) % 256:(it * 32) % 256 + 32]
    opt.zero_grad()
    loss = compute_loss(xb, yb)
    loss.backward()
    opt.step()
