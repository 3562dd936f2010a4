"""Regression MLP on generated data; training wrapped in helper functions."""
import torch
import torch.nn as nn


def make_data(n, gen):
    x = torch.rand(n, 5, generator=gen) * 4 - 2
    y = torch.cos(x[:, 0]) * x[:, 1] + 0.3 * x[:, 2] ** 2 - 0.5 * x[:, 3]
    return x, (y + 0.05 * torch.randn(n, generator=gen)).unsqueeze(1)


def train(model, x, y, num_epochs=3, lr=2e-3, batch_size=64):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for epoch in range(num_epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), batch_size):
            idx = perm[i:i + batch_size]
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
        print(f"epoch {epoch} mse {loss.item():.4f}")
    return model


def r2(model, x, y):
    with torch.no_grad():
        pred = model(x)
    return 1 - (((pred - y) ** 2).sum() / ((y - y.mean()) ** 2).sum()).item()


if __name__ == "__main__":
    torch.set_num_threads(1)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    x_train, y_train = make_data(1500, g)
    x_val, y_val = make_data(400, g)
    net = nn.Sequential(nn.Linear(5, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
    train(net, x_train, y_train)
    print(f"FINAL_SCORE val_r2 {r2(net, x_val, y_val):.4f}")
