import torch

torch.set_num_threads(1)
x = torch.linspace(-1, 1, 50)
y = 2 * x + 1
w = torch.zeros(2, requires_grad=True)
for it in range(40):
    loss = ((w[0] * x + w[1] - y) ** 2).mean()
    loss.backward()
    with torch.no_grad():
        w -= 0.1 * w.grad
        w.grad.zero_()
