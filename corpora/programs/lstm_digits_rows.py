"""LSTM reads each 8x8 digit row by row (8 steps of 8 pixels); last hidden state -> classes.
RMSprop optimiser, gradient clipping by value, DataLoader batching.

Metric: test accuracy (higher is better).
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, TensorDataset


class RowLSTM(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.lstm = nn.LSTM(input_size=8, hidden_size=hidden, batch_first=True)
        self.classifier = nn.Linear(hidden, 10)

    def forward(self, x):
        _, (h_n, _) = self.lstm(x)
        return self.classifier(h_n.squeeze(0))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FAULTLENS_SEED", 0)))
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    digits = load_digits()
    X = (digits.images / 16.0).astype("float32")
    X_tr, X_te, y_tr, y_te = train_test_split(X, digits.target, test_size=0.2, random_state=args.seed)
    train_dl = DataLoader(TensorDataset(torch.tensor(X_tr), torch.tensor(y_tr)), batch_size=32, shuffle=True)
    test_dl = DataLoader(TensorDataset(torch.tensor(X_te), torch.tensor(y_te)), batch_size=128)

    net = RowLSTM()
    optimizer = torch.optim.RMSprop(net.parameters(), lr=args.lr)
    criterion = nn.CrossEntropyLoss()
    for epoch in range(args.epochs):
        net.train()
        for xb, yb in train_dl:
            optimizer.zero_grad()
            loss = criterion(net(xb), yb)
            loss.backward()
            nn.utils.clip_grad_value_(net.parameters(), 1.0)
            optimizer.step()
        print(f"epoch {epoch + 1} loss {loss.item():.4f}")

    net.eval()
    correct = 0
    with torch.no_grad():
        for xb, yb in test_dl:
            correct += (net(xb).argmax(1) == yb).sum().item()
    print(f"FINAL_SCORE accuracy {correct / len(test_dl.dataset):.4f}")
