"""GRU sequence classifier (command-line script)."""
import argparse

import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self, n_in, hidden, n_out):
        super().__init__()
        self.gru = nn.GRU(n_in, hidden, batch_first=True)
        self.linear = nn.Linear(hidden, n_out)

    def forward(self, seq):
        out, _ = self.gru(seq)
        return self.linear(out[:, -1, :])


def make_dataset(n, length, gen):
    seq = torch.randn(n, length, 2, generator=gen)
    target = (seq[:, -6:, 1].mean(dim=1) > 0).long()
    return seq, target


def run(args):
    gen = torch.Generator().manual_seed(args.seed)
    train_seq, train_y = make_dataset(2000, args.length, gen)
    val_seq, val_y = make_dataset(500, args.length, gen)
    torch.manual_seed(args.seed)
    model = Model(2, args.hidden, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    criterion = nn.CrossEntropyLoss()
    for epoch in range(args.epochs):
        model.train()
        running_loss = 0.0
        perm = torch.randperm(len(train_seq))
        for i in range(0, len(train_seq), args.batch_size):
            idx = perm[i:i + args.batch_size]
            optimizer.zero_grad()
            loss = criterion(model(train_seq[idx]), train_y[idx])
            loss.backward()
            running_loss += loss.item() * len(idx)
        model.eval()
        with torch.no_grad():
            acc = (model(val_seq).argmax(1) == val_y).float().mean().item()
        print(f"epoch {epoch} loss {running_loss / len(train_seq):.4f} val_acc {acc:.4f}")
    return acc


if __name__ == "__main__":
    torch.set_num_threads(1)
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--length", type=int, default=18)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=1)
    print(f"FINAL_SCORE val_accuracy {run(parser.parse_args()):.4f}")
