import torch
import torch.nn as nn
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split

torch.set_num_threads(1)
torch.manual_seed(3)

X, y = load_diabetes(return_X_y=True)
X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=3)
x_mean, x_std = X_tr.mean(axis=0), X_tr.std(axis=0)
X_tr = (X_tr - x_mean) / x_std
X_te = (X_te - x_mean) / x_std
t_tr = y_tr
t_te = y_te

X_tr = torch.tensor(X_tr, dtype=torch.float32)
X_te = torch.tensor(X_te, dtype=torch.float32)
t_tr = torch.tensor(t_tr, dtype=torch.float32).view(-1, 1)
t_te = torch.tensor(t_te, dtype=torch.float32).view(-1, 1)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(10, 32)
        self.fc2 = nn.Linear(32, 1)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


model = MLP()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
criterion = nn.MSELoss()

for epoch in range(60):
    perm = torch.randperm(len(X_tr))
    for i in range(0, len(X_tr), 32):
        idx = perm[i:i + 32]
        optimizer.zero_grad()
        loss = criterion(model(X_tr[idx]), t_tr[idx])
        loss.backward()
        optimizer.step()
    if epoch % 10 == 0:
        print(f"epoch {epoch} loss {loss.item():.4f}")

with torch.no_grad():
    pred = model(X_te)
r2 = 1 - ((pred - t_te) ** 2).sum() / ((t_te - t_te.mean()) ** 2).sum()
print(f"FINAL_SCORE val_r2 {r2.item():.4f}")
