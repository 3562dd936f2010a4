"""Regression MLP on the diabetes data, inputs and target standardized."""
import numpy as np
import torch
from torch import nn
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split

torch.set_num_threads(1)
torch.manual_seed(0)

X, y = load_diabetes(return_X_y=True)
X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=42)
mu, sd = X_tr.mean(0), X_tr.std(0)
y_mu, y_sd = y_tr.mean(), y_tr.std()
X_tr = torch.tensor((X_tr - mu) / sd, dtype=torch.float32)
X_te = torch.tensor((X_te - mu) / sd, dtype=torch.float32)
t_tr = torch.tensor((y_tr - y_mu) / y_sd, dtype=torch.float32).unsqueeze(1)
t_te = torch.tensor((y_te - y_mu) / y_sd, dtype=torch.float32).unsqueeze(1)

model = nn.Sequential(nn.Linear(10, 32), nn.Tanh(), nn.Linear(32, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-3)
loss_fn = nn.MSELoss()

for epoch in range(60):
    perm = torch.randperm(len(X_tr))
    for i in range(0, len(X_tr), 32):
        idx = perm[i:i + 32]
        optimizer.zero_grad()
        loss = loss_fn(model(X_tr[idx]), t_tr[idx])
        loss.backward()
        optimizer.step()
    if epoch % 10 == 0:
        print("epoch", epoch, "train mse", float(loss))

with torch.no_grad():
    pred = model(X_te)
r2 = 1.0 - ((pred - t_te) ** 2).sum().item() / ((t_te - t_te.mean()) ** 2).sum().item()
print(f"FINAL_SCORE val_r2 {r2:.4f}")
