"""CNN with batch normalization on digits."""
import torch
import torch.nn as nn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

torch.set_num_threads(1)
torch.manual_seed(5)

batch_size = 2

digits = load_digits()
X = torch.tensor(digits.images / 16.0, dtype=torch.float32)[:, None]
Y = torch.tensor(digits.target)
X_train, X_val, Y_train, Y_val = train_test_split(X, Y, test_size=0.25, random_state=5)
X_train, Y_train = X_train[:600], Y_train[:600]

model = nn.Sequential(
    nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(),
    nn.Linear(32 * 2 * 2, 10),
)
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
criterion = nn.CrossEntropyLoss()

for epoch in range(3):
    model.train()
    order = torch.randperm(len(X_train))
    for i in range(0, len(X_train), batch_size):
        idx = order[i:i + batch_size]
        optimizer.zero_grad()
        loss = criterion(model(X_train[idx]), Y_train[idx])
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        val_acc = (model(X_val).argmax(1) == Y_val).float().mean().item()
    print(f"epoch {epoch} loss {loss.item():.4f} val_acc {val_acc:.4f}")

print(f"FINAL_SCORE val_accuracy {val_acc:.4f}")
