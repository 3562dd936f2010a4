import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

torch.set_num_threads(1)
torch.manual_seed(0)
np.random.seed(0)

features, target = load_wine(return_X_y=True)
X_train, X_val, y_train, y_val = train_test_split(features, target, test_size=0.3, random_state=1, stratify=target)

scaler = StandardScaler()
X_train_s = scaler.fit_transform(X_train)
X_val_s = scaler.transform(X_val)

train_x = torch.tensor(X_train, dtype=torch.float32)
val_x = torch.tensor(X_val_s, dtype=torch.float32)
train_y = torch.tensor(y_train, dtype=torch.long)
val_y = torch.tensor(y_val, dtype=torch.long)

model = nn.Sequential(nn.Linear(13, 32), nn.ReLU(), nn.Linear(32, 3))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
criterion = nn.CrossEntropyLoss()

for epoch in range(40):
    perm = torch.randperm(len(train_x))
    for i in range(0, len(train_x), 16):
        idx = perm[i:i + 16]
        optimizer.zero_grad()
        loss = criterion(model(train_x[idx]), train_y[idx])
        loss.backward()
        optimizer.step()
    if epoch % 10 == 0:
        print(f"epoch {epoch} loss {loss.item():.4f}")

with torch.no_grad():
    val_acc = (model(val_x).argmax(1) == val_y).float().mean().item()
print(f"FINAL_SCORE val_accuracy {val_acc:.4f}")
