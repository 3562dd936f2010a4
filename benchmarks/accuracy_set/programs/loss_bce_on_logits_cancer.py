import torch
import torch.nn as nn
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

torch.set_num_threads(1)
torch.manual_seed(0)

data = load_breast_cancer()
X_train, X_test, y_train, y_test = train_test_split(data.data, data.target, test_size=0.25, random_state=0)
scaler = StandardScaler()
X_train = torch.FloatTensor(scaler.fit_transform(X_train))
X_test = torch.FloatTensor(scaler.transform(X_test))
y_train = torch.FloatTensor(y_train).view(-1, 1)
y_test = torch.FloatTensor(y_test).view(-1, 1)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(30, 16)
        self.output = nn.Linear(16, 1)

    def forward(self, x):
        return self.output(torch.relu(self.hidden(x)))


net = Net()
criterion = nn.BCELoss()
optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)

for epoch in range(30):
    for i in range(0, len(X_train), 32):
        xb, yb = X_train[i:i + 32], y_train[i:i + 32]
        optimizer.zero_grad()
        loss = criterion(net(xb), yb)
        loss.backward()
        optimizer.step()
    print("epoch", epoch, "loss", loss.item())

with torch.no_grad():
    preds = (torch.sigmoid(net(X_test)) > 0.5).float()
print(f"FINAL_SCORE val_accuracy {(preds == y_test).float().mean().item():.4f}")
