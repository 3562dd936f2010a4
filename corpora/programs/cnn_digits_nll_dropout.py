"""Digits CNN with dropout, log_softmax + NLLLoss, SGD (Nesterov) and an ExponentialLR schedule;
evaluates each epoch under model.eval()/torch.no_grad() and switches back with model.train().

Metric: test accuracy (higher is better).
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader, TensorDataset, random_split


def seed_from_cli(default):
    argv = sys.argv[1:]
    return int(argv[argv.index("--seed") + 1]) if "--seed" in argv else default


SEED = seed_from_cli(int(os.environ.get("FAULTLENS_SEED", 0)))
torch.set_num_threads(1)
torch.manual_seed(SEED)
np.random.seed(SEED)


class DropoutCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3)
        self.conv2 = nn.Conv2d(8, 16, 3)
        self.drop = nn.Dropout(0.25)
        self.fc1 = nn.Linear(16 * 4 * 4, 48)
        self.fc2 = nn.Linear(48, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = self.drop(torch.flatten(x, 1))
        x = self.drop(F.relu(self.fc1(x)))
        return F.log_softmax(self.fc2(x), dim=1)


digits = load_digits()
images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1)
images = (images - images.mean()) / images.std()
dataset = TensorDataset(images, torch.tensor(digits.target))
train_set, test_set = random_split(dataset, [1437, 360], generator=torch.Generator().manual_seed(SEED))
train_loader = DataLoader(train_set, batch_size=32, shuffle=True)
test_loader = DataLoader(test_set, batch_size=128, shuffle=False)

model = DropoutCNN()
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.8)


def test():
    model.eval()
    correct = 0
    with torch.no_grad():
        for data, target in test_loader:
            correct += model(data).argmax(dim=1).eq(target).sum().item()
    model.train()
    return correct / len(test_set)


model.train()
for epoch in range(1, 7):
    for batch_idx, (data, target) in enumerate(train_loader):
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
    scheduler.step()
    print(f"Epoch {epoch}: loss={loss.item():.4f} test_acc={test():.4f}")

print(f"FINAL_SCORE accuracy {test():.4f}")
