"""Gradient accumulation with AdamW; a policy head with softmax probabilities for sampling."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Agent(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(6, 32)
        self.pi = nn.Linear(32, 3)
        self.v = nn.Linear(32, 1)

    def forward(self, s):
        z = torch.tanh(self.body(s))
        return F.softmax(self.pi(z), dim=-1), self.v(z)


agent = Agent()
opt = torch.optim.AdamW(agent.parameters(), lr=1e-3, weight_decay=0.01)
accum = 4
for episode in range(8):
    probs, value = agent(torch.randn(6))
    dist = torch.distributions.Categorical(probs)
    a = dist.sample()
    loss = (-dist.log_prob(a) + F.mse_loss(value, torch.ones(1))) / accum
    loss.backward()
    if (episode + 1) % accum == 0:
        opt.step()
        opt.zero_grad(set_to_none=True)
