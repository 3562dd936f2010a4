"""MNIST and FashionMNIST look-alikes (offline, generated; see the package docstring)."""
from __future__ import annotations

import os
import warnings

import numpy as np
import torch

from .vision import VisionDataset, load_or_generate, split_size, strict_download

try:  # Pillow is optional: without it items are numpy arrays instead of PIL images
    from PIL import Image
except ImportError:  # pragma: no cover - depends on the environment
    Image = None


class MNIST(VisionDataset):
    """MNIST-format data set: ``data`` uint8 [N, 28, 28], ``targets`` int64 [N].

    The images are generated from scikit-learn's 8x8 digits (see ``_synthetic``), cached
    under ``root/<ClassName>/standin``.  ``download`` is accepted and ignored.
    """

    _kind = "mnist"
    _seeds = (1001, 2002)  # (train, test)

    mirrors = []
    resources = []
    training_file = "training.pt"
    test_file = "test.pt"
    classes = [
        "0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
        "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine",
    ]

    @property
    def train_labels(self):
        warnings.warn("train_labels has been renamed targets")
        return self.targets

    @property
    def test_labels(self):
        warnings.warn("test_labels has been renamed targets")
        return self.targets

    @property
    def train_data(self):
        warnings.warn("train_data has been renamed data")
        return self.data

    @property
    def test_data(self):
        warnings.warn("test_data has been renamed data")
        return self.data

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        folder = os.path.join(self.root, self.__class__.__name__, "standin")
        if strict_download() and download:  # like a real download: both splits at once
            for split_train in (True, False):
                self._load(folder, split_train, download=True)
        images, targets = self._load(folder, train, download)
        self.data = torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8))
        self.targets = torch.from_numpy(np.ascontiguousarray(targets, dtype=np.int64))

    def _load(self, folder, train, download):
        n = split_size("mnist", train)
        return load_or_generate(folder, self._kind, n, self._seeds[0 if train else 1],
                                "train" if train else "test", download)

    def __getitem__(self, index):
        img, target = self.data[index], int(self.targets[index])
        img = img.numpy()
        if Image is not None:
            img = Image.fromarray(img)  # 2-D uint8 -> mode "L"
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __len__(self):
        return len(self.data)

    @property
    def raw_folder(self):
        return os.path.join(self.root, self.__class__.__name__, "raw")

    @property
    def processed_folder(self):
        return os.path.join(self.root, self.__class__.__name__, "processed")

    @property
    def class_to_idx(self):
        return {_class: i for i, _class in enumerate(self.classes)}

    def _check_exists(self):
        return True

    def download(self):
        """No-op: the stand-in never touches the network."""

    def extra_repr(self):
        split = "Train" if self.train is True else "Test"
        return f"Split: {split}"


class FashionMNIST(MNIST):
    """FashionMNIST-format data set (generated garment silhouettes, 28x28 grey)."""

    _kind = "fashion"
    _seeds = (3003, 4004)
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
