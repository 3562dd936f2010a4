"""LSTM that predicts the next value of noisy sine waves with random frequency and phase."""
import math

import torch
import torch.nn as nn

torch.set_num_threads(1)
torch.manual_seed(0)

WINDOW = 24


def make_windows(n, gen):
    freq = 0.2 + 0.3 * torch.rand(n, 1, generator=gen)
    phase = 2 * math.pi * torch.rand(n, 1, generator=gen)
    t = torch.arange(WINDOW + 1).float().unsqueeze(0)
    wave = torch.sin(freq * t + phase) + 0.05 * torch.randn(n, WINDOW + 1, generator=gen)
    return wave[:, :WINDOW, None], wave[:, WINDOW:]


class Forecaster(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x):
        seq, _ = self.lstm(x)
        return self.out(seq[:, -1])


g = torch.Generator().manual_seed(0)
x_train, y_train = make_windows(1600, g)
x_val, y_val = make_windows(400, g)
model = Forecaster()
optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
criterion = nn.MSELoss()

for epoch in range(12):
    model.train()
    perm = torch.randperm(len(x_train))
    for i in range(0, len(x_train), 64):
        idx = perm[i:i + 64]
        optimizer.zero_grad()
        loss = criterion(model(x_train[idx]), y_train[idx])
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    print(f"epoch {epoch} mse {loss.item():.5f}")

model.eval()
with torch.no_grad():
    pred = model(x_val)
r2 = 1 - ((pred - y_val) ** 2).sum() / ((y_val - y_val.mean()) ** 2).sum()
print(f"FINAL_SCORE val_r2 {r2.item():.4f}")
