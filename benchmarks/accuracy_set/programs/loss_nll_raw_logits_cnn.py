"""Digits CNN with an NLL objective."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

torch.set_num_threads(1)
torch.manual_seed(3)


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, kernel_size=3)
        self.fc1 = nn.Linear(8 * 3 * 3, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv(x)), 2)
        x = F.relu(self.fc1(x.view(x.size(0), -1)))
        return self.fc2(x)


digits = load_digits()
images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
labels = torch.tensor(digits.target)
tr_x, va_x, tr_y, va_y = train_test_split(images, labels, test_size=0.25, random_state=3)

model = ConvNet()
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
criterion = nn.NLLLoss()

for epoch in range(10):
    model.train()
    perm = torch.randperm(len(tr_x))
    for i in range(0, len(tr_x), 32):
        idx = perm[i:i + 32]
        optimizer.zero_grad()
        output = model(tr_x[idx])
        loss = criterion(output, tr_y[idx])
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        acc = (model(va_x).argmax(1) == va_y).float().mean().item()
    print(f"epoch {epoch}: loss {loss.item():.3f}, val acc {acc:.3f}")

print(f"FINAL_SCORE val_accuracy {acc:.4f}")
