"""Bug: evaluates with model.eval() (no no_grad) and never switches back to train()."""
import torch
import torch.nn as nn

torch.set_num_threads(1)
model = nn.Sequential(nn.Linear(6, 16), nn.Dropout(0.5), nn.Linear(16, 2))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
crit = nn.CrossEntropyLoss()
x, y = torch.randn(64, 6), torch.randint(0, 2, (64,))
xv, yv = torch.randn(32, 6), torch.randint(0, 2, (32,))
for epoch in range(4):
    for i in range(0, 64, 16):
        opt.zero_grad()
        loss = crit(model(x[i:i + 16]), y[i:i + 16])
        loss.backward()
        opt.step()
    model.eval()
    val = crit(model(xv), yv)
