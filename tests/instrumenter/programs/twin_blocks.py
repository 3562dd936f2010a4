import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.lin = nn.Linear(d, d)

    def forward(self, x):
        return torch.relu(self.lin(x))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Block(8)
        self.b = Block(8)
        self.out = nn.Linear(8, 2)

    def forward(self, x):
        return self.out(self.b(self.a(x)))


torch.set_num_threads(1)
model = Net()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
crit = nn.CrossEntropyLoss()
for step in range(5):
    opt.zero_grad()
    loss = crit(model(torch.randn(16, 8)), torch.randint(0, 2, (16,)))
    loss.backward()
    opt.step()
