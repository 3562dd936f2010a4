"""Wine classification driven by a CONFIG dict; ELU MLP with log_softmax + NLLLoss, RMSprop.

Metric: test accuracy (higher is better).
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, TensorDataset

CONFIG = {
    "seed": int(os.environ.get("FAULTLENS_SEED", "0")),
    "lr": 1e-3,
    "epochs": 30,
    "batch_size": 16,
    "hidden": [32, 16],
    "test_size": 0.3,
}


def read_seed(argv, default):
    for i, arg in enumerate(argv):
        if arg == "--seed" and i + 1 < len(argv):
            return int(argv[i + 1])
        if arg.startswith("--seed="):
            return int(arg.split("=", 1)[1])
    return default


class WineNet(nn.Module):
    def __init__(self, in_dim, hidden, n_classes):
        super().__init__()
        dims = [in_dim] + list(hidden)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.head = nn.Linear(dims[-1], n_classes)

    def forward(self, x):
        for layer in self.hidden:
            x = F.elu(layer(x))
        return F.log_softmax(self.head(x), dim=1)


def run(config):
    torch.set_num_threads(1)
    torch.manual_seed(config["seed"])
    np.random.seed(config["seed"])

    X, y = load_wine(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, test_size=config["test_size"], stratify=y, random_state=config["seed"]
    )
    mean, std = X_tr.mean(axis=0), X_tr.std(axis=0) + 1e-8
    X_tr = (X_tr - mean) / std
    X_te = (X_te - mean) / std

    train_ds = TensorDataset(torch.tensor(X_tr, dtype=torch.float32), torch.tensor(y_tr))
    loader = DataLoader(train_ds, batch_size=config["batch_size"], shuffle=True)

    model = WineNet(X.shape[1], config["hidden"], 3)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=config["lr"])
    criterion = nn.NLLLoss()

    for epoch in range(config["epochs"]):
        model.train()
        for xb, yb in loader:
            optimizer.zero_grad()
            log_probs = model(xb)
            loss = criterion(log_probs, yb)
            loss.backward()
            optimizer.step()
        if epoch % 10 == 9:
            print(f"epoch {epoch + 1} last batch loss {loss.item():.4f}")

    model.eval()
    with torch.no_grad():
        pred = model(torch.tensor(X_te, dtype=torch.float32)).argmax(dim=1).numpy()
    return float((pred == y_te).mean())


if __name__ == "__main__":
    CONFIG["seed"] = read_seed(sys.argv[1:], CONFIG["seed"])
    acc = run(CONFIG)
    print(f"FINAL_SCORE accuracy {acc:.4f}")
