import sys

import torch
import torch.nn as nn

torch.set_num_threads(1)
model = nn.Linear(4, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.05)
crit = nn.MSELoss()
x, y = torch.randn(32, 4), torch.randn(32, 1)
for step in range(20):
    opt.zero_grad()
    loss = crit(model(x), y)
    loss.backward()
    opt.step()
    if loss.item() < 10:
        print("converged enough")
        sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
