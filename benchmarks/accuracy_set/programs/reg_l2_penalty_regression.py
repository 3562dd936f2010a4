"""Nonlinear regression on generated data with an explicit L2 penalty."""
import torch
import torch.nn as nn

torch.set_num_threads(1)
torch.manual_seed(8)

L2_LAMBDA = 1.0

g = torch.Generator().manual_seed(8)
X = torch.randn(1500, 6, generator=g)
y = (torch.sin(1.5 * X[:, 0]) + 0.5 * X[:, 1] ** 2 - X[:, 2] * X[:, 3]).unsqueeze(1)
y = y + 0.1 * torch.randn(y.shape, generator=g)
y = (y - y.mean()) / y.std()
X_train, y_train = X[:1200], y[:1200]
X_val, y_val = X[1200:], y[1200:]


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.l3 = nn.Linear(64, 1)

    def forward(self, x):
        return self.l3(torch.relu(self.l2(torch.relu(self.l1(x)))))


model = Regressor()
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
mse = nn.MSELoss()

for epoch in range(30):
    perm = torch.randperm(len(X_train))
    for i in range(0, len(X_train), 64):
        idx = perm[i:i + 64]
        optimizer.zero_grad()
        data_loss = mse(model(X_train[idx]), y_train[idx])
        penalty = sum((p ** 2).sum() for name, p in model.named_parameters() if "weight" in name)
        loss = data_loss + L2_LAMBDA * penalty
        loss.backward()
        optimizer.step()
    if epoch % 5 == 0:
        print(f"epoch {epoch} mse {data_loss.item():.4f} penalty {penalty.item():.3f}")

with torch.no_grad():
    pred = model(X_val)
r2 = 1 - ((pred - y_val) ** 2).sum() / ((y_val - y_val.mean()) ** 2).sum()
print(f"FINAL_SCORE val_r2 {r2.item():.4f}")
