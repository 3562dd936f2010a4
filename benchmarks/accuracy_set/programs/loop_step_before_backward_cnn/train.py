import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader, TensorDataset, random_split

from model import LeNetTiny


def train_epoch(model, loader, optimizer):
    model.train()
    total = 0.0
    for data, target in loader:
        optimizer.zero_grad()
        output = model(data)
        loss = F.cross_entropy(output, target)
        optimizer.step()
        loss.backward()
        total += loss.item() * len(data)
    return total / len(loader.dataset)


def test(model, loader):
    model.eval()
    correct = 0
    with torch.no_grad():
        for data, target in loader:
            correct += (model(data).argmax(1) == target).sum().item()
    return correct / len(loader.dataset)


if __name__ == "__main__":
    torch.set_num_threads(1)
    torch.manual_seed(0)
    digits = load_digits()
    dataset = TensorDataset(torch.tensor(digits.images / 16.0, dtype=torch.float32).unsqueeze(1),
                            torch.tensor(digits.target))
    train_set, val_set = random_split(dataset, [1347, 450], generator=torch.Generator().manual_seed(0))
    train_loader = DataLoader(train_set, batch_size=32, shuffle=True)
    val_loader = DataLoader(val_set, batch_size=128)
    model = LeNetTiny()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for epoch in range(6):
        loss = train_epoch(model, train_loader, optimizer)
        acc = test(model, val_loader)
        print(f"epoch {epoch}: train loss {loss:.4f} val acc {acc:.4f}")
    print(f"FINAL_SCORE val_accuracy {acc:.4f}")
