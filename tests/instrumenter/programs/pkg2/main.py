import torch

from helpers import build


def run():
    torch.set_num_threads(1)
    net, opt, loss_fn = build(0.01)
    x, y = torch.randn(64, 6), torch.randint(0, 3, (64,))
    for step in range(12):
        opt.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()


if __name__ == "__main__":
    run()
