"""Deep fully-connected classifier for digits, layers built in a loop."""
import torch
import torch.nn as nn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

torch.set_num_threads(1)
torch.manual_seed(0)

DEPTH = 6
WIDTH = 64


class DeepNet(nn.Module):
    def __init__(self, n_in, n_out, depth=DEPTH, width=WIDTH):
        super().__init__()
        dims = [n_in] + [width] * depth
        layers = []
        for d_in, d_out in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(d_in, d_out), nn.Sigmoid()]
        layers.append(nn.Linear(width, n_out))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


X, y = load_digits(return_X_y=True)
X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.25, random_state=0)
sc = StandardScaler().fit(X_tr)
X_tr = torch.tensor(sc.transform(X_tr), dtype=torch.float32)
X_va = torch.tensor(sc.transform(X_va), dtype=torch.float32)
y_tr, y_va = torch.tensor(y_tr), torch.tensor(y_va)

model = DeepNet(64, 10)
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
ce = nn.CrossEntropyLoss()

for epoch in range(10):
    perm = torch.randperm(len(X_tr))
    for i in range(0, len(X_tr), 32):
        idx = perm[i:i + 32]
        opt.zero_grad()
        loss = ce(model(X_tr[idx]), y_tr[idx])
        loss.backward()
        opt.step()
    with torch.no_grad():
        acc = (model(X_va).argmax(1) == y_va).float().mean().item()
    print(f"epoch {epoch} loss {loss.item():.4f} val {acc:.3f}")

print(f"FINAL_SCORE val_accuracy {acc:.4f}")
