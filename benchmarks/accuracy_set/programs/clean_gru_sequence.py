"""GRU classifier on synthetic sequences: is the recent signal on channel 0 positive?"""
import torch
import torch.nn as nn

torch.set_num_threads(1)
torch.manual_seed(7)

N, T, F = 2400, 20, 4


def make_data(n):
    x = torch.randn(n, T, F)
    y = (x[:, -5:, 0].sum(dim=1) > 0).long()
    return x, y


x_train, y_train = make_data(N)
x_val, y_val = make_data(600)


class GRUClassifier(nn.Module):
    def __init__(self, n_features, hidden, n_classes):
        super().__init__()
        self.gru = nn.GRU(n_features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, x):
        out, _ = self.gru(x)
        return self.head(out[:, -1])


model = GRUClassifier(F, 32, 2)
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
crit = nn.CrossEntropyLoss()

for epoch in range(10):
    model.train()
    perm = torch.randperm(N)
    for i in range(0, N, 64):
        idx = perm[i:i + 64]
        opt.zero_grad()
        loss = crit(model(x_train[idx]), y_train[idx])
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(x_val).argmax(-1) == y_val).float().mean().item()
    print(f"epoch {epoch + 1} loss={loss.item():.3f} val_acc={acc:.3f}")

print(f"FINAL_SCORE val_accuracy {acc:.4f}")
