"""Wine cultivar classifier."""
import torch
import torch.nn as nn
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

torch.set_num_threads(1)
torch.manual_seed(0)

wine = load_wine()
X = StandardScaler().fit_transform(wine.data)
# cultivar ids -> 0-based class indices
y = wine.target - 1

X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
X_tr, X_te = torch.tensor(X_tr, dtype=torch.float32), torch.tensor(X_te, dtype=torch.float32)
y_tr, y_te = torch.tensor(y_tr), torch.tensor(y_te)


class WineNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(13, 24), nn.ReLU(), nn.Linear(24, 3))

    def forward(self, x):
        return self.net(x)


model = WineNet()
optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
criterion = nn.CrossEntropyLoss()
for epoch in range(30):
    for i in range(0, len(X_tr), 16):
        optimizer.zero_grad()
        loss = criterion(model(X_tr[i:i + 16]), y_tr[i:i + 16])
        loss.backward()
        optimizer.step()
    if epoch % 10 == 0:
        print(f"epoch {epoch} loss {loss.item():.4f}")

with torch.no_grad():
    acc = (model(X_te).argmax(1) == y_te).float().mean().item()
print(f"FINAL_SCORE val_accuracy {acc:.4f}")
