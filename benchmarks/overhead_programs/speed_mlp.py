"""`faultlens run` speed benchmark program (benchmarks/run_speed.py): a seeded MLP classifier on
generated data, healthy; about 4 s for the whole `python speed_mlp.py` on one idle CPU thread."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

torch.set_num_threads(1)
torch.manual_seed(0)
X = torch.randn(2560, 64)
y = (X[:, :10] * torch.linspace(1, 2, 10)).argmax(1)
train = DataLoader(TensorDataset(X[:2048], y[:2048]), batch_size=64, shuffle=True)
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
criterion = nn.CrossEntropyLoss()
for epoch in range(12):
    model.train()
    for xb, yb in train:
        optimizer.zero_grad()
        loss = criterion(model(xb), yb)
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        acc = (model(X[2048:]).argmax(1) == y[2048:]).float().mean().item()
    print(f"epoch {epoch}: loss {loss.item():.4f}, held-out accuracy {acc:.3f}")
