"""LSTM over generated sequences; the label depends on the last few steps."""
import torch
import torch.nn as nn

torch.set_num_threads(1)
torch.manual_seed(17)


class SequenceClassifier(nn.Module):
    def __init__(self, n_in=3, hidden=32, n_out=2):
        super().__init__()
        self.lstm = nn.LSTM(n_in, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, n_out)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.fc(out[:, 0, :])


def sample(n, T=15):
    x = torch.randn(n, T, 3)
    y = (x[:, -4:, 2].sum(1) > 0).long()
    return x, y


xtr, ytr = sample(2000)
xva, yva = sample(500)
model = SequenceClassifier()
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
criterion = nn.CrossEntropyLoss()

for epoch in range(8):
    model.train()
    for i in range(0, 2000, 50):
        optimizer.zero_grad()
        loss = criterion(model(xtr[i:i + 50]), ytr[i:i + 50])
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        acc = (model(xva).argmax(1) == yva).float().mean().item()
    print(f"epoch {epoch} loss {loss.item():.4f} val_acc {acc:.4f}")

print(f"FINAL_SCORE val_accuracy {acc:.4f}")
