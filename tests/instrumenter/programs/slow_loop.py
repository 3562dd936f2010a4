import torch
import torch.nn as nn

torch.set_num_threads(1)
model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 1))
opt = torch.optim.SGD(model.parameters(), lr=0.01)
crit = nn.MSELoss()
x, y = torch.randn(64, 32), torch.randn(64, 1)
step = 0
while True:
    opt.zero_grad()
    loss = crit(model(x), y)
    loss.backward()
    opt.step()
    step += 1
