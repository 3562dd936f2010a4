"""Two-layer network on make_classification, parameters updated by hand (no torch.optim)."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import make_classification

torch.set_num_threads(1)
torch.manual_seed(0)

X, y = make_classification(n_samples=2000, n_features=20, n_informative=8, n_classes=4,
                           n_clusters_per_class=1, class_sep=1.5, random_state=0)
X = torch.tensor(X, dtype=torch.float32)
y = torch.tensor(y)
X_train, y_train, X_val, y_val = X[:1600], y[:1600], X[1600:], y[1600:]

model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 4))
lr = 0.1

for epoch in range(20):
    perm = torch.randperm(len(X_train))
    for i in range(0, len(X_train), 32):
        idx = perm[i:i + 32]
        loss = F.cross_entropy(model(X_train[idx]), y_train[idx])
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p.add_(p.grad, alpha=-lr)
    with torch.no_grad():
        acc = (model(X_val).argmax(1) == y_val).float().mean().item()
    if epoch % 5 == 0:
        print(f"epoch {epoch} loss {loss.item():.4f} val_acc {acc:.4f}")

print(f"FINAL_SCORE val_accuracy {acc:.4f}")
