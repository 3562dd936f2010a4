"""CIFAR-10 / CIFAR-100 look-alikes (offline, generated; see the package docstring)."""
from __future__ import annotations

import os

import numpy as np

from .vision import VisionDataset, load_or_generate, split_size, strict_download

try:
    from PIL import Image
except ImportError:  # pragma: no cover
    Image = None


class CIFAR10(VisionDataset):
    """CIFAR-10-format data set: ``data`` numpy uint8 [N, 32, 32, 3], ``targets`` list of int."""

    base_folder = "cifar-10-batches-py"
    _kind = "cifar10"
    _seeds = (5005, 6006)
    meta = {"filename": "batches.meta", "key": "label_names"}
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        folder = os.path.join(self.root, self.base_folder, "standin")
        if strict_download() and download:
            for split_train in (True, False):
                self._load(folder, split_train, download=True)
        images, targets = self._load(folder, train, download)
        self.data = np.ascontiguousarray(images, dtype=np.uint8)
        self.targets = [int(t) for t in targets]
        self.class_to_idx = {_class: i for i, _class in enumerate(self.classes)}

    def _load(self, folder, train, download):
        n = split_size("cifar", train)
        return load_or_generate(folder, self._kind, n, self._seeds[0 if train else 1],
                                "train" if train else "test", download)

    def __getitem__(self, index):
        img, target = self.data[index], self.targets[index]
        if Image is not None:
            img = Image.fromarray(img)  # HxWx3 uint8 -> mode "RGB"
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __len__(self):
        return len(self.data)

    def _check_integrity(self):
        return True

    def download(self):
        """No-op: the stand-in never touches the network."""

    def extra_repr(self):
        split = "Train" if self.train is True else "Test"
        return f"Split: {split}"


class CIFAR100(CIFAR10):
    """CIFAR-100-format data set (100 fine classes, generated)."""

    base_folder = "cifar-100-python"
    _kind = "cifar100"
    _seeds = (7007, 8008)
    meta = {"filename": "meta", "key": "fine_label_names"}
    classes = [
        "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
        "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
        "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
        "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
        "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
        "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
        "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
        "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
        "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
        "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
    ]
