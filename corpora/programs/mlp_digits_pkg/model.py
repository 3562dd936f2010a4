"""Network and trainer helpers for the mlp_digits_pkg program."""
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, in_dim=64, hidden=128, n_classes=10, dropout=0.1):
        super().__init__()
        self.fc1 = nn.Linear(in_dim, hidden)
        self.fc2 = nn.Linear(hidden, hidden // 2)
        self.out = nn.Linear(hidden // 2, n_classes)
        self.act = nn.GELU()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        x = self.dropout(self.act(self.fc1(x)))
        x = self.act(self.fc2(x))
        return self.out(x)


class Trainer:
    def __init__(self, model, optimizer, scheduler, criterion):
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.criterion = criterion

    def fit_epoch(self, loader):
        self.model.train()
        losses = []
        for xb, yb in loader:
            self.optimizer.zero_grad()
            loss = self.criterion(self.model(xb), yb)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            losses.append(loss.item())
        return sum(losses) / len(losses)

    @torch.no_grad()
    def accuracy(self, X, y):
        self.model.eval()
        return (self.model(X).argmax(1) == y).float().mean().item()
