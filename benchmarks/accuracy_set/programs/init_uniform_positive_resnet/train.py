"""Residual MLP on a synthetic 5-class problem."""
import torch
import torch.nn as nn
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split

from model import ResidualNet

torch.set_num_threads(1)
torch.manual_seed(0)

X, y = make_classification(n_samples=2000, n_features=16, n_informative=10, n_redundant=2,
                           n_classes=5, n_clusters_per_class=1, random_state=3)
X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.25, random_state=3)
X_tr, X_va = torch.tensor(X_tr, dtype=torch.float32), torch.tensor(X_va, dtype=torch.float32)
y_tr, y_va = torch.tensor(y_tr), torch.tensor(y_va)

model = ResidualNet(16, 5)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
criterion = nn.CrossEntropyLoss()

for epoch in range(15):
    model.train()
    perm = torch.randperm(len(X_tr))
    for i in range(0, len(X_tr), 64):
        idx = perm[i:i + 64]
        optimizer.zero_grad()
        loss = criterion(model(X_tr[idx]), y_tr[idx])
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        acc = (model(X_va).argmax(1) == y_va).float().mean().item()
    print(f"epoch {epoch} loss {loss.item():.4g} val_acc {acc:.4f}")

print(f"FINAL_SCORE val_accuracy {acc:.4f}")
