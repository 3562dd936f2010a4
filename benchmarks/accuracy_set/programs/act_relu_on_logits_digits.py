"""Digits classifier, functional forward."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

torch.set_num_threads(1)
torch.manual_seed(9)


class DigitsNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        return F.relu(self.fc2(x))


X, y = load_digits(return_X_y=True)
Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=9, stratify=y)
scaler = StandardScaler().fit(Xtr)
Xtr = torch.tensor(scaler.transform(Xtr), dtype=torch.float32)
Xte = torch.tensor(scaler.transform(Xte), dtype=torch.float32)
ytr, yte = torch.tensor(ytr), torch.tensor(yte)

net = DigitsNet()
optimizer = torch.optim.SGD(net.parameters(), lr=0.05)

for epoch in range(10):
    for i in range(0, len(Xtr), 16):
        optimizer.zero_grad()
        loss = F.cross_entropy(net(Xtr[i:i + 16]), ytr[i:i + 16])
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        acc = (net(Xte).argmax(1) == yte).float().mean().item()
    print(f"epoch {epoch} loss {loss.item():.4f} acc {acc:.3f}")

print(f"FINAL_SCORE val_accuracy {acc:.4f}")
