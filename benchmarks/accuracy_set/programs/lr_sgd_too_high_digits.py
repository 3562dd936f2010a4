import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

torch.set_num_threads(1)
torch.manual_seed(1)

LEARNING_RATE = 10.0
EPOCHS = 12
BATCH = 32

data = load_digits()
X_train, X_test, y_train, y_test = train_test_split(data.data, data.target, test_size=0.2, random_state=1)
sc = StandardScaler()
X_train = torch.from_numpy(sc.fit_transform(X_train)).float()
X_test = torch.from_numpy(sc.transform(X_test)).float()
y_train = torch.from_numpy(y_train).long()
y_test = torch.from_numpy(y_test).long()

net = nn.Sequential(
    nn.Linear(64, 64),
    nn.ReLU(),
    nn.Linear(64, 32),
    nn.ReLU(),
    nn.Linear(32, 10),
)
loss_fn = nn.CrossEntropyLoss()
opt = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE)

for epoch in range(EPOCHS):
    order = torch.randperm(X_train.shape[0])
    running = 0.0
    for start in range(0, X_train.shape[0], BATCH):
        b = order[start:start + BATCH]
        opt.zero_grad()
        loss = loss_fn(net(X_train[b]), y_train[b])
        loss.backward()
        opt.step()
        running += loss.item()
    print("epoch", epoch, "mean loss", running / (X_train.shape[0] // BATCH + 1))

with torch.no_grad():
    pred = net(X_test).argmax(dim=1)
accuracy = (pred == y_test).float().mean().item()
print("FINAL_SCORE val_accuracy", round(accuracy, 4))
