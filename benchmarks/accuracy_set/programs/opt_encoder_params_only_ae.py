import torch
import torch.nn as nn
from sklearn.datasets import load_digits

torch.set_num_threads(1)
torch.manual_seed(5)

images = torch.tensor(load_digits().data / 16.0, dtype=torch.float32)
perm = torch.randperm(len(images))
train_x, val_x = images[perm[:1400]], images[perm[1400:]]


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(64, 32)
        self.l2 = nn.Linear(32, 10)

    def forward(self, x):
        return self.l2(torch.relu(self.l1(x)))


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(10, 32)
        self.l2 = nn.Linear(32, 64)

    def forward(self, z):
        return torch.sigmoid(self.l2(torch.relu(self.l1(z))))


class AE(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.decoder = Decoder()

    def forward(self, x):
        return self.decoder(self.encoder(x))


model = AE()
optimizer = torch.optim.Adam(model.encoder.parameters(), lr=3e-3)
criterion = nn.MSELoss()

for epoch in range(40):
    order = torch.randperm(len(train_x))
    for i in range(0, len(train_x), 50):
        x = train_x[order[i:i + 50]]
        optimizer.zero_grad()
        loss = criterion(model(x), x)
        loss.backward()
        optimizer.step()
    if epoch % 10 == 0:
        print("epoch", epoch, "loss", round(loss.item(), 5))

with torch.no_grad():
    rec = model(val_x)
score = 1.0 - torch.sum((rec - val_x) ** 2) / torch.sum((val_x - val_x.mean(dim=0)) ** 2)
print(f"FINAL_SCORE recon_r2 {score.item():.4f}")
