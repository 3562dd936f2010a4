import torch.nn as nn


class DigitNet(nn.Module):
    """Conv -> conv -> pool -> linear, for 1x8x8 inputs."""

    def __init__(self, width=12, n_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, width * 2, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Linear(width * 2 * 4 * 4, n_classes)

    def forward(self, x):
        x = self.features(x)
        return self.classifier(x.flatten(1))
