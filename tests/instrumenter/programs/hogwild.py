"""Hogwild training: worker processes train one shared model; the parent evaluates it after.
argv: start method (or "mp.spawn"), learning rate, number of processes."""
import sys

import torch
import torch.multiprocessing as mp
import torch.nn as nn

torch.set_num_threads(1)  # torch's thread pool does not survive a fork


def train(rank, model, x, y, lr):
    torch.manual_seed(rank)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(3):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 32):
            idx = perm[i:i + 32]
            opt.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()


if __name__ == "__main__":
    method, lr, nproc = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    g = torch.Generator().manual_seed(0)
    x = torch.randn(320, 8, generator=g)
    y = (x @ torch.randn(8, 3, generator=g)).argmax(1)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    model.share_memory()
    if method == "mp.spawn":  # torch's helper: spawned processes, rank first, joined for us
        mp.spawn(train, args=(model, x, y, lr), nprocs=nproc)
    else:
        ctx = mp.get_context(method)
        procs = [ctx.Process(target=train, args=(r, model, x, y, lr)) for r in range(nproc)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
    with torch.no_grad():
        print("accuracy", (model(x).argmax(1) == y).float().mean().item())
