"""``VisionDataset`` base class and the on-disk cache of the look-alike data sets."""
from __future__ import annotations

import os
import tempfile

import numpy as np
import torch.utils.data as data

DEFAULT_SIZES = {
    # family: (train, test) -- the real sets are 60000/10000 (MNIST, FashionMNIST)
    # and 50000/10000 (CIFAR-10/100)
    "mnist": (6000, 1000),
    "cifar": (5000, 1000),
}
GENERATOR_VERSION = 1


def split_size(family, train):
    """Number of samples for a split: FAULTLENS_STANDIN_TRAIN / _TEST override the default."""
    var = "FAULTLENS_STANDIN_TRAIN" if train else "FAULTLENS_STANDIN_TEST"
    value = os.environ.get(var, "").strip()
    if value:
        n = int(value)
        if n <= 0:
            raise ValueError(f"{var} must be a positive integer, got {value!r}")
        return n
    return DEFAULT_SIZES[family][0 if train else 1]


def strict_download():
    return os.environ.get("FAULTLENS_STANDIN_STRICT_DOWNLOAD", "").strip() not in ("", "0")


def load_or_generate(folder, kind, n, seed, split, download):
    """Arrays for one split, from ``folder`` when cached there, generated (and cached) otherwise."""
    from . import _synthetic

    name = f"standin_{kind}_{split}_{n}_v{GENERATOR_VERSION}.npz"
    path = os.path.join(folder, name)
    if os.path.exists(path):
        try:
            with np.load(path) as z:
                return z["data"], z["targets"]
        except Exception:  # truncated or foreign file: regenerate
            pass
    if strict_download() and not download:
        raise RuntimeError("Dataset not found. You can use download=True to download it")
    images, targets = _synthetic.generate(kind, n, seed, split)
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp.npz")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, data=images, targets=targets)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; downloaded files would follow the umask
        os.replace(tmp, path)  # atomic: concurrent constructions never see half a file
    except OSError:
        pass  # read-only root: the data are still returned, just not cached
    return images, targets


class StandardTransform:
    def __init__(self, transform=None, target_transform=None):
        self.transform = transform
        self.target_transform = target_transform

    def __call__(self, input, target):
        if self.transform is not None:
            input = self.transform(input)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return input, target

    def _format_transform_repr(self, transform, head):
        lines = repr(transform).splitlines()
        return [f"{head}{lines[0]}"] + ["{}{}".format(" " * len(head), line) for line in lines[1:]]

    def __repr__(self):
        body = [self.__class__.__name__]
        if self.transform is not None:
            body += self._format_transform_repr(self.transform, "Transform: ")
        if self.target_transform is not None:
            body += self._format_transform_repr(self.target_transform, "Target transform: ")
        return "\n".join(body)


class VisionDataset(data.Dataset):
    """Base class: ``root``, ``transform``, ``target_transform`` and ``transforms``."""

    _repr_indent = 4

    def __init__(self, root=None, transforms=None, transform=None, target_transform=None):
        if isinstance(root, (str, bytes, os.PathLike)):
            root = os.path.expanduser(os.fspath(root))
        self.root = root
        has_transforms = transforms is not None
        has_separate_transform = transform is not None or target_transform is not None
        if has_transforms and has_separate_transform:
            raise ValueError("Only transforms or transform/target_transform can be passed as argument")
        self.transform = transform
        self.target_transform = target_transform
        if has_separate_transform:
            transforms = StandardTransform(transform, target_transform)
        self.transforms = transforms

    def __getitem__(self, index):
        raise NotImplementedError

    def __len__(self):
        raise NotImplementedError

    def extra_repr(self):
        return ""

    def __repr__(self):
        head = "Dataset " + self.__class__.__name__
        body = [f"Number of datapoints: {self.__len__()}"]
        if self.root is not None:
            body.append(f"Root location: {self.root}")
        body += self.extra_repr().splitlines()
        if hasattr(self, "transforms") and self.transforms is not None:
            body += [repr(self.transforms)]
        lines = [head] + [" " * self._repr_indent + line for line in body]
        return "\n".join(lines)
