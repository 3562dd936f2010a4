import torch
import torch.nn as nn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

torch.set_num_threads(1)
torch.manual_seed(4)

data = torch.tensor(load_digits().data / 16.0, dtype=torch.float32)
x_train, x_val = train_test_split(data, test_size=0.2, random_state=4)

encoder = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
decoder = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 64), nn.Sigmoid())
params = list(encoder.parameters()) + list(decoder.parameters())
optimizer = torch.optim.Adam(params, lr=3e-3)
loss_fn = nn.MSELoss()

for epoch in range(40):
    perm = torch.randperm(len(x_train))
    for i in range(0, len(x_train), 64):
        batch = x_train[perm[i:i + 64]]
        recon = decoder(encoder(batch))
        loss = loss_fn(recon, batch)
        loss.backward()
        optimizer.zero_grad()
        optimizer.step()
    if epoch % 10 == 0:
        print("epoch", epoch, "loss", loss.item())

with torch.no_grad():
    recon = decoder(encoder(x_val))
r2 = 1.0 - ((recon - x_val) ** 2).sum() / ((x_val - x_val.mean(0)) ** 2).sum()
print(f"FINAL_SCORE recon_r2 {r2.item():.4f}")
