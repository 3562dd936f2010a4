import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset

torch.set_num_threads(1)


class Squares(Dataset):
    def __len__(self):
        return 128

    def __getitem__(self, i):
        x = torch.full((4,), float(i % 7) / 7)
        return x, x.sum(0, keepdim=True)


def main():
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    criterion = nn.MSELoss()
    loader = DataLoader(Squares(), batch_size=16, shuffle=True, num_workers=2)
    for epoch in range(2):
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
    print("final", loss.item())


if __name__ == "__main__":
    main()
