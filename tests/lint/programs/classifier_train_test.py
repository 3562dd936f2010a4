"""Conv classifier with separate fit/score functions (train()/eval() in each), Adadelta + StepLR."""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim.lr_scheduler import StepLR


class DigitNet(nn.Module):
    def __init__(self, n_out=10):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3)
        self.c2 = nn.Conv2d(8, 16, 3)
        self.d1 = nn.Dropout(0.2)
        self.l1 = nn.Linear(16 * 2 * 2, 32)
        self.l2 = nn.Linear(32, n_out)

    def forward(self, x):
        h = F.relu(self.c1(x))
        h = F.max_pool2d(F.relu(self.c2(h)), 2)
        h = torch.flatten(self.d1(h), 1)
        h = F.relu(self.l1(h))
        return F.log_softmax(self.l2(h), dim=1)


def fit(net, loader, opt):
    net.train()
    for xb, yb in loader:
        opt.zero_grad()
        nll = F.nll_loss(net(xb), yb)
        nll.backward()
        opt.step()


def score(net, loader):
    net.eval()
    hits = 0
    with torch.no_grad():
        for xb, yb in loader:
            hits += (net(xb).argmax(1) == yb).sum().item()
    return hits


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lr", type=float, default=1.0)
    ap.add_argument("--epochs", type=int, default=2)
    args = ap.parse_args([])
    ds = torch.utils.data.TensorDataset(torch.randn(32, 1, 8, 8), torch.randint(0, 10, (32,)))
    loader = torch.utils.data.DataLoader(ds, batch_size=8)
    net = DigitNet()
    opt = torch.optim.Adadelta(net.parameters(), lr=args.lr)
    sched = StepLR(opt, step_size=1, gamma=0.7)
    for epoch in range(args.epochs):
        fit(net, loader, opt)
        score(net, loader)
        sched.step()


if __name__ == "__main__":
    main()
