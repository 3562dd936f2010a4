"""Dense autoencoder on the digits images (pixels scaled to [0, 1])."""
import torch
from torch import nn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

torch.set_num_threads(1)
torch.manual_seed(2)

pixels = load_digits().data / 16.0
train, val = train_test_split(pixels, test_size=0.2, random_state=0)
train = torch.tensor(train, dtype=torch.float32)
val = torch.tensor(val, dtype=torch.float32)


class AutoEncoder(nn.Module):
    def __init__(self, code=12):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, code))
        self.decoder = nn.Sequential(nn.Linear(code, 32), nn.ReLU(), nn.Linear(32, 64), nn.Sigmoid())

    def forward(self, x):
        return self.decoder(self.encoder(x))


ae = AutoEncoder()
opt = torch.optim.Adam(ae.parameters(), lr=3e-3)
mse = nn.MSELoss()

for epoch in range(40):
    perm = torch.randperm(len(train))
    for i in range(0, len(train), 64):
        batch = train[perm[i:i + 64]]
        opt.zero_grad()
        loss = mse(ae(batch), batch)
        loss.backward()
        opt.step()
    if epoch % 10 == 0:
        print(f"epoch {epoch} recon mse {loss.item():.5f}")

with torch.no_grad():
    recon = ae(val)
r2 = 1 - ((recon - val) ** 2).sum() / ((val - val.mean(0)) ** 2).sum()
print(f"FINAL_SCORE recon_r2 {r2.item():.4f}")
