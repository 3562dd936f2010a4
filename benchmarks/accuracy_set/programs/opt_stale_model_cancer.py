"""Breast-cancer classifier; the model is re-created with the run seed before training."""
import argparse

import torch
import torch.nn as nn
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


class Classifier(nn.Module):
    def __init__(self, n_in, hidden=32):
        super().__init__()
        self.layer1 = nn.Linear(n_in, hidden)
        self.layer2 = nn.Linear(hidden, 1)

    def forward(self, x):
        return self.layer2(torch.relu(self.layer1(x))).squeeze(-1)


def get_data(seed):
    X, y = load_breast_cancer(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=seed)
    scaler = StandardScaler().fit(X_tr)
    to_t = lambda a: torch.tensor(a, dtype=torch.float32)
    return to_t(scaler.transform(X_tr)), to_t(scaler.transform(X_te)), to_t(y_tr), to_t(y_te)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(1)

    X_tr, X_te, y_tr, y_te = get_data(args.seed)
    model = Classifier(X_tr.shape[1], hidden=32)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.BCEWithLogitsLoss()

    torch.manual_seed(args.seed)
    model = Classifier(X_tr.shape[1])

    for epoch in range(args.epochs):
        perm = torch.randperm(len(X_tr))
        for i in range(0, len(X_tr), 32):
            idx = perm[i:i + 32]
            optimizer.zero_grad()
            loss = loss_fn(model(X_tr[idx]), y_tr[idx])
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            acc = ((model(X_te) > 0).float() == y_te).float().mean().item()
        print(f"epoch {epoch} loss {loss.item():.4f} test acc {acc:.4f}")
    print(f"FINAL_SCORE val_accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
