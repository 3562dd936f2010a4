import torch
import torch.nn as nn
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

torch.set_num_threads(1)
torch.manual_seed(2)

# synthetic nonlinear regression problem
gen = torch.Generator().manual_seed(2)
X = torch.randn(1200, 8, generator=gen)
y = torch.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2] + 0.5 * X[:, 3] + 0.1 * torch.randn(1200, generator=gen)
X, y = X.numpy(), y.numpy()
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=2)
x_scaler, y_scaler = StandardScaler(), StandardScaler()
X_train = torch.tensor(x_scaler.fit_transform(X_train), dtype=torch.float32)
X_test = torch.tensor(x_scaler.transform(X_test), dtype=torch.float32)
y_train = torch.tensor(y_scaler.fit_transform(y_train[:, None]), dtype=torch.float32)
y_test = torch.tensor(y_scaler.transform(y_test[:, None]), dtype=torch.float32)

model = nn.Sequential(
    nn.Linear(8, 64), nn.ReLU(),
    nn.Linear(64, 32), nn.ReLU(),
    nn.Linear(32, 1), nn.ReLU(),
)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
criterion = nn.MSELoss()

for epoch in range(30):
    permutation = torch.randperm(X_train.size(0))
    for i in range(0, X_train.size(0), 32):
        idx = permutation[i:i + 32]
        optimizer.zero_grad()
        loss = criterion(model(X_train[idx]), y_train[idx])
        loss.backward()
        optimizer.step()
    if epoch % 10 == 0:
        print(f"Epoch {epoch}, loss {loss.item():.4f}")

with torch.no_grad():
    y_hat = model(X_test)
r2 = 1 - torch.sum((y_test - y_hat) ** 2) / torch.sum((y_test - y_test.mean()) ** 2)
print(f"FINAL_SCORE val_r2 {r2.item():.4f}")
