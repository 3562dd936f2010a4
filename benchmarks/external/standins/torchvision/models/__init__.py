"""Stand-in ``torchvision.models``: ResNet-18/34/50 architectures only, randomly initialised."""
from . import resnet
from .resnet import ResNet, resnet18, resnet34, resnet50

__all__ = ["resnet", "ResNet", "resnet18", "resnet34", "resnet50"]
