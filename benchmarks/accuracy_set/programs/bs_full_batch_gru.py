import torch
import torch.nn as nn

torch.set_num_threads(1)
torch.manual_seed(2)

gen = torch.Generator().manual_seed(2)
signals = torch.randn(2000, 20, 3, generator=gen)
labels = (signals[:, -6:, 0].mean(1) > signals[:, -6:, 1].mean(1)).long()
train_x, train_y = signals[:1600], labels[:1600]
val_x, val_y = signals[1600:], labels[1600:]

config = {"hidden": 32, "lr": 3e-3, "epochs": 12, "batch_size": len(train_x)}


class GRUNet(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.gru = nn.GRU(3, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, 2)

    def forward(self, x):
        _, h = self.gru(x)
        return self.fc(h.squeeze(0))


model = GRUNet(config["hidden"])
optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
criterion = nn.CrossEntropyLoss()
loader = torch.utils.data.DataLoader(
    torch.utils.data.TensorDataset(train_x, train_y), batch_size=config["batch_size"], shuffle=True
)

for epoch in range(config["epochs"]):
    model.train()
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = criterion(model(xb), yb)
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        acc = (model(val_x).argmax(1) == val_y).float().mean().item()
    print(f"epoch {epoch} loss {loss.item():.4f} val_acc {acc:.4f}")

print(f"FINAL_SCORE val_accuracy {acc:.4f}")
