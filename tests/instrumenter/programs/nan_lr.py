import torch
import torch.nn as nn

torch.set_num_threads(1)
torch.manual_seed(1)
model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 1))
opt = torch.optim.SGD(model.parameters(), lr=1e4)
crit = nn.MSELoss()
x, y = torch.randn(64, 10) * 10, torch.randn(64, 1) * 100
for step in range(500):
    opt.zero_grad()
    loss = crit(model(x), y)
    loss.backward()
    opt.step()
print("done")
