"""GAN with two optimizers, zeroed through the networks, BCELoss after a Sigmoid head."""
import torch
import torch.nn as nn

G = nn.Sequential(nn.Linear(8, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 4), nn.Tanh())
D = nn.Sequential(nn.Linear(4, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1), nn.Sigmoid())


def init_normal(m):
    if isinstance(m, nn.Linear):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm1d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


G.apply(init_normal)
D.apply(init_normal)
bce = nn.BCELoss()
opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
batches = [torch.randn(16, 4) for _ in range(3)]
for epoch in range(2):
    for real in batches:
        ones, zeros = torch.ones(16, 1), torch.zeros(16, 1)
        D.zero_grad()
        d_real = bce(D(real), ones)
        d_real.backward()
        fake = G(torch.randn(16, 8))
        d_fake = bce(D(fake.detach()), zeros)
        d_fake.backward()
        opt_d.step()
        G.zero_grad()
        g_loss = bce(D(fake), ones)
        g_loss.backward()
        opt_g.step()
