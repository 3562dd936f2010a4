import torch
import torch.nn as nn
from sklearn.datasets import make_circles
from sklearn.model_selection import train_test_split

torch.set_num_threads(1)
torch.manual_seed(0)

X, y = make_circles(n_samples=1200, noise=0.08, factor=0.5, random_state=0)
X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.25, random_state=0)
X_train = torch.tensor(X_train, dtype=torch.float32)
X_val = torch.tensor(X_val, dtype=torch.float32)
y_train = torch.tensor(y_train, dtype=torch.float32)
y_val = torch.tensor(y_val, dtype=torch.float32)

model = nn.Sequential(
    nn.Linear(2, 32),
    nn.Linear(32, 32),
    nn.Linear(32, 1),
)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
criterion = nn.BCEWithLogitsLoss()

for epoch in range(40):
    perm = torch.randperm(len(X_train))
    for i in range(0, len(X_train), 64):
        idx = perm[i:i + 64]
        optimizer.zero_grad()
        logits = model(X_train[idx]).squeeze(1)
        loss = criterion(logits, y_train[idx])
        loss.backward()
        optimizer.step()
    if epoch % 10 == 0:
        print(f"epoch {epoch} loss {loss.item():.4f}")

with torch.no_grad():
    pred = (model(X_val).squeeze(1) > 0).float()
print(f"FINAL_SCORE val_accuracy {(pred == y_val).float().mean().item():.4f}")
