import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.lin1 = nn.Linear(width, width)
        self.lin2 = nn.Linear(width, width)

    def forward(self, x):
        return torch.relu(x + self.lin2(torch.relu(self.lin1(x))))


class ResidualNet(nn.Module):
    def __init__(self, n_in, n_out, width=64, n_blocks=4):
        super().__init__()
        self.inp = nn.Linear(n_in, width)
        self.blocks = nn.Sequential(*[Block(width) for _ in range(n_blocks)])
        self.out = nn.Linear(width, n_out)
        self.reset_parameters()

    def reset_parameters(self):
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.uniform_(m.weight, 0.0, 1.0)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.out(self.blocks(torch.relu(self.inp(x))))
