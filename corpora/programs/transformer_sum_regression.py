"""nn.TransformerEncoder regresses the sum of the digit values in a token sequence
(tokens 0..9 embedded, sinusoidal positions, [mean-pool] -> Linear). MSELoss, Adam.

Metric: R^2 on held-out sequences (higher is better).
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn

SEED = int(os.environ.get("FAULTLENS_SEED", 0))
if "--seed" in sys.argv:
    SEED = int(sys.argv[sys.argv.index("--seed") + 1])
SEQ_LEN, VOCAB, D_MODEL = 8, 10, 32

torch.set_num_threads(1)
torch.manual_seed(SEED)
np.random.seed(SEED)
gen = torch.Generator().manual_seed(SEED)


def sinusoidal(length, dim):
    pos = torch.arange(length).unsqueeze(1)
    div = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe


class SumTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, D_MODEL)
        self.register_buffer("pe", sinusoidal(SEQ_LEN, D_MODEL))
        layer = nn.TransformerEncoderLayer(D_MODEL, nhead=4, dim_feedforward=64, dropout=0.0,
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=1)
        self.regressor = nn.Linear(D_MODEL, 1)

    def forward(self, tokens):
        h = self.encoder(self.embedding(tokens) + self.pe)
        return self.regressor(h.mean(1)).squeeze(-1)


tokens = torch.randint(0, VOCAB, (1500, SEQ_LEN), generator=gen)
target = tokens.float().sum(1)
target = (target - 36.0) / 8.0
X_train, y_train = tokens[:1200], target[:1200]
X_test, y_test = tokens[1200:], target[1200:]

model = SumTransformer()
optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
criterion = nn.MSELoss()
for epoch in range(10):
    model.train()
    perm = torch.randperm(len(X_train))
    for i in range(0, len(perm), 64):
        idx = perm[i:i + 64]
        optimizer.zero_grad()
        loss = criterion(model(X_train[idx]), y_train[idx])
        loss.backward()
        optimizer.step()
    print(f"epoch {epoch + 1} mse {loss.item():.4f}")

model.eval()
with torch.no_grad():
    pred = model(X_test)
r2 = 1 - torch.sum((pred - y_test) ** 2) / torch.sum((y_test - y_test.mean()) ** 2)
print(f"FINAL_SCORE r2 {r2.item():.4f}")
