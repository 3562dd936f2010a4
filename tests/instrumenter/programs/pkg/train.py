"""Model in another file, main() with argparse, eval with no_grad."""
import argparse

import torch
import torch.nn as nn

from model import Net


def evaluate(model, x, y, criterion):
    model.eval()
    with torch.no_grad():
        return criterion(model(x), y).item()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x, y = torch.randn(96, 5), torch.randint(0, 3, (96,))
    model = Net(5, 16, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
    criterion = nn.CrossEntropyLoss()
    for epoch in range(args.epochs):
        model.train()
        for i in range(0, 96, 16):
            optimizer.zero_grad()
            loss = criterion(model(x[i:i + 16]), y[i:i + 16])
            loss.backward()
            optimizer.step()
        print(epoch, evaluate(model, x, y, criterion))
    with open("out.txt", "w") as fh:
        fh.write("ok")


if __name__ == "__main__":
    main()
