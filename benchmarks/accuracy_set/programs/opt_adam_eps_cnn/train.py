import argparse

import torch
import torch.nn as nn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from model import DigitNet


def parse_args():
    p = argparse.ArgumentParser(description="train DigitNet")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--eps", type=float, default=1.0, help="Adam epsilon")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def main():
    args = parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    d = load_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(d.target)
    x_tr, x_va, y_tr, y_va = train_test_split(x, y, test_size=0.2, random_state=args.seed)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x_tr, y_tr), batch_size=args.batch_size, shuffle=True
    )

    net = DigitNet()
    opt = torch.optim.Adam(net.parameters(), lr=args.lr, eps=args.eps)
    criterion = nn.CrossEntropyLoss()
    for epoch in range(args.epochs):
        net.train()
        for xb, yb in loader:
            opt.zero_grad()
            loss = criterion(net(xb), yb)
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            acc = (net(x_va).argmax(1) == y_va).float().mean().item()
        print(f"epoch {epoch + 1}: loss={loss.item():.4f} val_acc={acc:.4f}")
    print(f"FINAL_SCORE val_accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
