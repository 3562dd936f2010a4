"""Overhead benchmark program: an LSTM sequence classifier on generated data (~2-3 s, one thread)."""
import torch
import torch.nn as nn

torch.set_num_threads(1)
torch.manual_seed(0)


class SeqNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(8, 32, batch_first=True)
        self.head = nn.Linear(32, 4)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


X = torch.randn(1024, 20, 8)
y = (X[:, :, :4].sum(1)).argmax(1)
model = SeqNet()
optimizer = torch.optim.RMSprop(model.parameters(), lr=3e-3)
criterion = nn.CrossEntropyLoss()
for epoch in range(12):
    perm = torch.randperm(len(X))
    for i in range(0, len(X), 32):
        idx = perm[i:i + 32]
        optimizer.zero_grad()
        loss = criterion(model(X[idx]), y[idx])
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
