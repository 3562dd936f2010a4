"""A GAN loop in the common tutorial order: the discriminator sees the real batch first, so it
is the first model called with gradients on, and it is called again between the two steps."""
import torch
import torch.nn as nn

torch.set_num_threads(1)
torch.manual_seed(0)
G = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
D = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
d_optimizer = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999))
g_optimizer = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))
criterion = nn.BCEWithLogitsLoss()
batches = [torch.randn(32, 2) * 0.5 + 2.0 for _ in range(12)]
for epoch in range(2):
    for real in batches:
        d_loss_real = criterion(D(real), torch.ones(32, 1))
        fake = G(torch.randn(32, 4))
        d_loss_fake = criterion(D(fake.detach()), torch.zeros(32, 1))
        d_loss = d_loss_real + d_loss_fake
        d_optimizer.zero_grad()
        d_loss.backward()
        d_optimizer.step()
        fake = G(torch.randn(32, 4))
        g_loss = criterion(D(fake), torch.ones(32, 1))
        g_optimizer.zero_grad()
        g_loss.backward()
        g_optimizer.step()
print("gan done", d_loss.item(), g_loss.item())
