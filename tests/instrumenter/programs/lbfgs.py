import torch
import torch.nn as nn

torch.set_num_threads(1)
x = torch.linspace(-1, 1, 64).unsqueeze(1)
y = 3 * x ** 2 - 0.5
model = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))
optimizer = torch.optim.LBFGS(model.parameters(), lr=0.5, max_iter=5)
loss_fn = nn.MSELoss()


def closure():
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    return loss


for it in range(8):
    optimizer.step(closure)
print("lbfgs", closure().item())
