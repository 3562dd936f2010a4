"""Residual MLP on the wine data with a shared step helper."""
import torch
import torch.nn as nn
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

torch.set_num_threads(1)
torch.manual_seed(0)


class ResBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        self.bn = nn.BatchNorm1d(dim)

    def forward(self, x):
        return x + torch.relu(self.bn(self.fc(x)))


class WineResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Linear(13, 32)
        self.res = nn.Sequential(ResBlock(32), ResBlock(32))
        self.head = nn.Linear(32, 3)

    def forward(self, x):
        return self.head(self.res(torch.relu(self.stem(x))))


def step(model, xb, yb, criterion, optimizer):
    optimizer.zero_grad()
    with torch.no_grad():
        loss = criterion(model(xb), yb)
    loss.backward()
    optimizer.step()
    return loss.item()


X, y = load_wine(return_X_y=True)
X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.3, stratify=y, random_state=1)
sc = StandardScaler().fit(X_tr)
X_tr = torch.tensor(sc.transform(X_tr), dtype=torch.float32)
X_va = torch.tensor(sc.transform(X_va), dtype=torch.float32)
y_tr, y_va = torch.tensor(y_tr), torch.tensor(y_va)

model = WineResNet()
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
criterion = nn.CrossEntropyLoss()
for epoch in range(25):
    model.train()
    perm = torch.randperm(len(X_tr))
    for i in range(0, len(X_tr), 16):
        idx = perm[i:i + 16]
        if len(idx) < 2:
            continue
        loss = step(model, X_tr[idx], y_tr[idx], criterion, optimizer)
    model.eval()
    with torch.inference_mode():
        acc = (model(X_va).argmax(1) == y_va).float().mean().item()
    if epoch % 5 == 0:
        print(f"epoch {epoch} loss {loss:.4f} val_acc {acc:.4f}")

print(f"FINAL_SCORE val_accuracy {acc:.4f}")
