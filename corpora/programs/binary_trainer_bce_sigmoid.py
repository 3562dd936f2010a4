"""Binary make_classification task organised around a Trainer class (fit / evaluate methods).
The model ends in a Sigmoid and is trained with BCELoss; ELU hidden units; Adam.

Metric: F1 score on the test split (higher is better).
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import make_classification
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, TensorDataset


class ProbNet(nn.Module):
    def __init__(self, d_in):
        super().__init__()
        self.hidden = nn.Linear(d_in, 32)
        self.act = nn.ELU()
        self.out = nn.Linear(32, 1)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        return self.sigmoid(self.out(self.act(self.hidden(x))))


class Trainer:
    def __init__(self, model, lr, epochs):
        self.model = model
        self.epochs = epochs
        self.criterion = nn.BCELoss()
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def fit(self, loader):
        for epoch in range(self.epochs):
            self.model.train()
            running = 0.0
            for xb, yb in loader:
                self.optimizer.zero_grad()
                loss = self.criterion(self.model(xb), yb)
                loss.backward()
                self.optimizer.step()
                running += loss.item()
            if epoch % 5 == 0:
                print(f"epoch {epoch}: loss {running / len(loader):.4f}")

    def evaluate(self, X, y):
        self.model.eval()
        with torch.no_grad():
            pred = (self.model(X) >= 0.5).long().squeeze(1).numpy()
        return f1_score(y, pred)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FAULTLENS_SEED", 0)))
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    X, y = make_classification(n_samples=700, n_features=12, n_informative=6, weights=[0.6, 0.4],
                               class_sep=1.0, random_state=args.seed)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y, random_state=args.seed)
    ds = TensorDataset(torch.tensor(X_tr, dtype=torch.float32),
                       torch.tensor(y_tr, dtype=torch.float32).unsqueeze(1))
    trainer = Trainer(ProbNet(X.shape[1]), lr=args.lr, epochs=args.epochs)
    trainer.fit(DataLoader(ds, batch_size=32, shuffle=True))
    score = trainer.evaluate(torch.tensor(X_te, dtype=torch.float32), y_te)
    print(f"FINAL_SCORE f1 {score:.4f}")


if __name__ == "__main__":
    main()
