import torch
import torch.nn as nn

torch.manual_seed(0)
torch.set_num_threads(1)
x = torch.randn(128, 6)
y = x @ torch.randn(6, 1)
model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 1))
opt = torch.optim.SGD(model.parameters(), lr=0.05)
for it in range(30):
    opt.zero_grad()
    err = model(x) - y
    loss = torch.mean(err * err) + 1e-4 * sum((p ** 2).sum() for p in model.parameters())
    loss.backward()
    opt.step()
