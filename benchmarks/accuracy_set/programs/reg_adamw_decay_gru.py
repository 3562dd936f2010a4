"""GRU classifier with decoupled weight decay (AdamW)."""
import argparse

import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.rnn = nn.GRU(4, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 2)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.out(y[:, -1])


def data(n, g):
    x = torch.randn(n, 16, 4, generator=g)
    return x, (x[:, -4:, 3].sum(1) > 0).long()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--wd", type=float, default=30.0)
    ap.add_argument("--epochs", type=int, default=8)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    x_tr, y_tr = data(2000, g)
    x_va, y_va = data(500, g)
    model = Net()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.wd)
    ce = nn.CrossEntropyLoss()
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(x_tr))
        for i in range(0, len(x_tr), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            loss = ce(model(x_tr[idx]), y_tr[idx])
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            acc = (model(x_va).argmax(1) == y_va).float().mean().item()
        print(f"epoch {epoch} loss {loss.item():.4f} val_acc {acc:.4f}")
    print(f"FINAL_SCORE val_accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
