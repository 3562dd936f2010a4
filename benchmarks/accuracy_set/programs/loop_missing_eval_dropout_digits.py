"""Digits MLP with dropout; validation after every epoch."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

torch.set_num_threads(1)
torch.manual_seed(13)


class DropoutMLP(nn.Module):
    def __init__(self, hidden=16, p=0.5):
        super().__init__()
        self.fc1 = nn.Linear(64, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, 10)
        self.drop = nn.Dropout(p)

    def forward(self, x):
        x = self.drop(F.relu(self.fc1(x)))
        x = self.drop(F.relu(self.fc2(x)))
        return self.fc3(x)


def evaluate(model, X, y):
    with torch.no_grad():
        return (model(X).argmax(1) == y).float().mean().item()


X, y = load_digits(return_X_y=True)
X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.25, random_state=13)
scaler = StandardScaler().fit(X_tr)
X_tr = torch.tensor(scaler.transform(X_tr), dtype=torch.float32)
X_va = torch.tensor(scaler.transform(X_va), dtype=torch.float32)
y_tr, y_va = torch.tensor(y_tr), torch.tensor(y_va)

model = DropoutMLP()
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)

for epoch in range(25):
    model.train()
    perm = torch.randperm(len(X_tr))
    for i in range(0, len(X_tr), 32):
        idx = perm[i:i + 32]
        optimizer.zero_grad()
        loss = F.cross_entropy(model(X_tr[idx]), y_tr[idx])
        loss.backward()
        optimizer.step()
    val_acc = evaluate(model, X_va, y_va)
    if epoch % 5 == 4:
        print(f"epoch {epoch + 1} loss {loss.item():.4f} val_acc {val_acc:.4f}")

print(f"FINAL_SCORE val_accuracy {val_acc:.4f}")
