"""LSTM classifies the parity (even/odd number of ones) of short random bit strings.

Data: random bits from a seeded torch.Generator. Metric: test accuracy (higher is better).
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn

SEED = int(os.environ.get("FAULTLENS_SEED", 0))
if "--seed" in sys.argv:
    SEED = int(sys.argv[sys.argv.index("--seed") + 1])
SEQ_LEN = 6
HIDDEN = 32
EPOCHS = 40
LR = 0.01

torch.set_num_threads(1)
torch.manual_seed(SEED)
np.random.seed(SEED)

g = torch.Generator().manual_seed(SEED)
bits = torch.randint(0, 2, (1200, SEQ_LEN), generator=g)
labels = bits.sum(dim=1) % 2
inputs = bits.float().unsqueeze(-1)
train_x, test_x = inputs[:1000], inputs[1000:]
train_y, test_y = labels[:1000], labels[1000:]


class ParityLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(1, HIDDEN, batch_first=True)
        self.fc = nn.Linear(HIDDEN, 2)

    def forward(self, x):
        outputs, (h, c) = self.lstm(x)
        return self.fc(outputs[:, -1, :])


model = ParityLSTM()
optimizer = torch.optim.Adam(model.parameters(), lr=LR)
criterion = nn.CrossEntropyLoss()

for epoch in range(EPOCHS):
    model.train()
    perm = torch.randperm(len(train_x))
    for i in range(0, len(perm), 50):
        batch = perm[i:i + 50]
        optimizer.zero_grad()
        loss = criterion(model(train_x[batch]), train_y[batch])
        loss.backward()
        optimizer.step()
    if epoch % 10 == 9:
        print(f"epoch {epoch + 1} loss {loss.item():.4f}")

model.eval()
with torch.no_grad():
    acc = (model(test_x).argmax(1) == test_y).float().mean().item()
print(f"FINAL_SCORE accuracy {acc:.4f}")
