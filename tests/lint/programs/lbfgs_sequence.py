"""LSTM-cell regressor fitted with LBFGS and a closure."""
import torch
import torch.nn as nn


class Seq(nn.Module):
    def __init__(self, hid=12):
        super().__init__()
        self.hid = hid
        self.cell = nn.LSTMCell(1, hid)
        self.out = nn.Linear(hid, 1)

    def forward(self, x):
        h = torch.zeros(x.size(0), self.hid)
        c = torch.zeros(x.size(0), self.hid)
        preds = []
        for col in x.split(1, dim=1):
            h, c = self.cell(col, (h, c))
            preds.append(self.out(h))
        return torch.cat(preds, dim=1)


xs, ys = torch.randn(4, 10), torch.randn(4, 10)
model = Seq()
mse = nn.MSELoss()
opt = torch.optim.LBFGS(model.parameters(), lr=0.5)
for it in range(3):
    def closure():
        opt.zero_grad()
        err = mse(model(xs), ys)
        err.backward()
        return err
    opt.step(closure)
with torch.no_grad():
    final = mse(model(xs), ys)
