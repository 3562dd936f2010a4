"""Vanilla nn.RNN (tanh) reads a sequence of random numbers and regresses their sum.

Data: torch.randn with a fixed torch.Generator. Metric: R^2 on the test split (higher is better).
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn


def make_sequences(n, length, generator):
    x = torch.randn(n, length, 1, generator=generator) * 0.5
    y = x.sum(dim=(1, 2))
    return x, y


class SumRNN(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.rnn = nn.RNN(input_size=1, hidden_size=hidden, batch_first=True)
        self.readout = nn.Linear(hidden, 1)

    def forward(self, x):
        out, h_n = self.rnn(x)
        return self.readout(h_n[-1]).squeeze(-1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FAULTLENS_SEED", 0)))
    parser.add_argument("--seq-len", type=int, default=10)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    X_train, y_train = make_sequences(1000, args.seq_len, gen)
    X_test, y_test = make_sequences(250, args.seq_len, gen)

    model = SumRNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    criterion = nn.MSELoss()
    for epoch in range(args.epochs):
        perm = torch.randperm(len(X_train))
        for i in range(0, len(X_train), 50):
            idx = perm[i:i + 50]
            optimizer.zero_grad()
            loss = criterion(model(X_train[idx]), y_train[idx])
            loss.backward()
            optimizer.step()
        if epoch % 5 == 4:
            print(f"epoch {epoch + 1} mse {loss.item():.4f}")

    with torch.no_grad():
        pred = model(X_test)
    r2 = 1 - ((pred - y_test) ** 2).sum() / ((y_test - y_test.mean()) ** 2).sum()
    print(f"FINAL_SCORE r2 {r2.item():.4f}")


if __name__ == "__main__":
    main()
