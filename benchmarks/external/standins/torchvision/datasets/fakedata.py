"""``FakeData``: random images, generated per index (documented torchvision behaviour)."""
from __future__ import annotations

import torch

from .vision import VisionDataset


class FakeData(VisionDataset):
    """A fake data set of random images (PIL images when Pillow is available, else uint8 arrays).

    Item ``i`` is reproducible: it is drawn from a generator seeded with
    ``i + random_offset``; the global torch RNG is not touched.
    """

    def __init__(self, size=1000, image_size=(3, 224, 224), num_classes=10, transform=None,
                 target_transform=None, random_offset=0):
        super().__init__(None, transform=transform, target_transform=target_transform)
        self.size = size
        self.num_classes = num_classes
        self.image_size = image_size
        self.random_offset = random_offset

    def __getitem__(self, index):
        if index >= len(self):
            raise IndexError(f"{self.__class__.__name__} index out of range")
        g = torch.Generator().manual_seed(int(index) + self.random_offset)
        img = torch.rand(*self.image_size, generator=g)
        target = int(torch.randint(0, self.num_classes, size=(1,), dtype=torch.long, generator=g)[0])
        from ..transforms import functional as F

        if F._PIL_OK:
            img = F.to_pil_image(img)
        else:  # without Pillow: an HxW(xC) uint8 array, which ToTensor accepts too
            arr = img.mul(255).byte()
            img = (arr.permute(1, 2, 0) if arr.ndim == 3 else arr).numpy()
            if img.ndim == 3 and img.shape[2] == 1:
                img = img[:, :, 0]
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __len__(self):
        return self.size
