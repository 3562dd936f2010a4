"""Wine MLP with LeakyReLU, SGD+momentum, gradient clipping (clip_grad_norm_) and ReduceLROnPlateau
driven by a validation loss; the test split is used only once at the end.

Metric: test accuracy (higher is better).
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


class Classifier(nn.Module):
    def __init__(self, d_in, d_hidden, n_out, slope=0.05):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(d_in, d_hidden), nn.LeakyReLU(slope),
            nn.Linear(d_hidden, d_hidden), nn.LeakyReLU(slope),
            nn.Linear(d_hidden, n_out),
        )

    def forward(self, x):
        return self.layers(x)


def tensors(*arrays):
    return [torch.as_tensor(a, dtype=torch.float32 if a.dtype.kind == "f" else torch.long) for a in arrays]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seed", type=int, default=int(os.environ.get("FAULTLENS_SEED", 0)))
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--max-norm", type=float, default=1.0)
    p.add_argument("--epochs", type=int, default=40)
    a = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)

    X, y = load_wine(return_X_y=True)
    X_tmp, X_test, y_tmp, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=a.seed)
    X_train, X_val, y_train, y_val = train_test_split(X_tmp, y_tmp, test_size=0.2, stratify=y_tmp,
                                                      random_state=a.seed)
    sc = StandardScaler().fit(X_train)
    X_train, X_val, X_test = sc.transform(X_train), sc.transform(X_val), sc.transform(X_test)
    X_train, X_val, X_test, y_train, y_val, y_test = tensors(X_train, X_val, X_test, y_train, y_val, y_test)

    model = Classifier(13, 32, 3)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=3)
    crit = nn.CrossEntropyLoss()

    for epoch in range(a.epochs):
        model.train()
        perm = torch.randperm(len(X_train))
        for i in range(0, len(perm), 16):
            idx = perm[i:i + 16]
            opt.zero_grad()
            loss = crit(model(X_train[idx]), y_train[idx])
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), a.max_norm)
            opt.step()
        model.eval()
        with torch.no_grad():
            val_loss = crit(model(X_val), y_val).item()
        sched.step(val_loss)
        if epoch % 10 == 9:
            print(f"epoch {epoch + 1} val_loss {val_loss:.4f} lr {opt.param_groups[0]['lr']:.4f}")

    model.eval()
    with torch.no_grad():
        acc = (model(X_test).argmax(1) == y_test).float().mean().item()
    print(f"FINAL_SCORE accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
