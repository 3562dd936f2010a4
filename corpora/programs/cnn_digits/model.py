"""Model definition for the cnn_digits program (imported by train.py as `from model import Net`)."""
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    """Two 3x3 conv layers on 1x8x8 digit images, then a small classifier head."""

    def __init__(self, channels=16, n_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels * 2, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(channels * 2 * 4 * 4, 64)
        self.fc2 = nn.Linear(64, n_classes)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.flatten(1)
        x = F.relu(self.fc1(x))
        return self.fc2(x)
