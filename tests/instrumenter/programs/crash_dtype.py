import numpy as np
import torch
import torch.nn as nn

torch.set_num_threads(1)
model = nn.Linear(4, 3)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
crit = nn.CrossEntropyLoss()
x = torch.from_numpy(np.random.rand(8, 4))
y = torch.randint(0, 3, (8,))
for step in range(2):
    opt.zero_grad()
    out = model(x)
    loss = crit(out, y)
    loss.backward()
    opt.step()
