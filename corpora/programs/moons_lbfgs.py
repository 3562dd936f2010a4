"""Two-moons classification with full-batch LBFGS and a closure; ELU MLP, CrossEntropyLoss.

Metric: test accuracy (higher is better).
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import make_moons
from sklearn.model_selection import train_test_split


def build_model():
    return nn.Sequential(nn.Linear(2, 24), nn.ELU(), nn.Linear(24, 24), nn.ELU(), nn.Linear(24, 2))


def main(seed, iterations):
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    np.random.seed(seed)
    X, y = make_moons(n_samples=500, noise=0.25, random_state=seed)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=seed)
    X_tr, X_te = torch.tensor(X_tr).float(), torch.tensor(X_te).float()
    y_tr, y_te = torch.tensor(y_tr).long(), torch.tensor(y_te).long()

    model = build_model()
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.LBFGS(model.parameters(), lr=0.5, max_iter=20, history_size=10,
                                  line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = criterion(model(X_tr), y_tr)
        loss.backward()
        return loss

    for it in range(iterations):
        loss = optimizer.step(closure)
        print(f"outer step {it}: loss {loss.item():.4f}")

    with torch.no_grad():
        acc = (model(X_te).argmax(1) == y_te).float().mean().item()
    return acc


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=int(os.environ.get("FAULTLENS_SEED", 0)))
    ap.add_argument("--iterations", type=int, default=8)
    opts = ap.parse_args()
    print(f"FINAL_SCORE accuracy {main(opts.seed, opts.iterations):.4f}")
