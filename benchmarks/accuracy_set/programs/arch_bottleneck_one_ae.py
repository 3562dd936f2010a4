import torch
from torch import nn
from sklearn.datasets import load_digits

torch.set_num_threads(1)
torch.manual_seed(1)

CODE_DIM = 1

x = torch.tensor(load_digits().data / 16.0, dtype=torch.float32)
idx = torch.randperm(len(x))
x_train, x_val = x[idx[:1450]], x[idx[1450:]]


class DenseAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1 = nn.Linear(64, 32)
        self.enc2 = nn.Linear(32, CODE_DIM)
        self.dec1 = nn.Linear(CODE_DIM, 32)
        self.dec2 = nn.Linear(32, 64)

    def forward(self, x):
        z = self.enc2(torch.relu(self.enc1(x)))
        return torch.sigmoid(self.dec2(torch.relu(self.dec1(z))))


model = DenseAE()
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
for epoch in range(40):
    perm = torch.randperm(len(x_train))
    for i in range(0, len(x_train), 64):
        xb = x_train[perm[i:i + 64]]
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(xb), xb)
        loss.backward()
        opt.step()
    if epoch % 10 == 0:
        print(f"epoch {epoch} mse {loss.item():.5f}")

with torch.no_grad():
    rec = model(x_val)
r2 = 1 - ((rec - x_val) ** 2).sum() / ((x_val - x_val.mean(0)) ** 2).sum()
print(f"FINAL_SCORE recon_r2 {r2.item():.4f}")
