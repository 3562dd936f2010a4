import torch
import torch.nn as nn

torch.set_num_threads(1)
model = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 3))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
criterion = nn.CrossEntropyLoss()
accum = 4
data = [(torch.randn(8, 6), torch.randint(0, 3, (8,))) for _ in range(24)]
optimizer.zero_grad()
for i, (xb, yb) in enumerate(data):
    loss = criterion(model(xb), yb) / accum
    loss.backward()
    if (i + 1) % accum == 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
print("accum done")
