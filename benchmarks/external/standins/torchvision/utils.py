"""Stand-in ``torchvision.utils``: ``make_grid`` and ``save_image`` (documented behaviour)."""
from __future__ import annotations

import math
import pathlib
import warnings

import torch

__all__ = ["make_grid", "save_image"]


@torch.no_grad()
def make_grid(tensor, nrow=8, padding=2, normalize=False, value_range=None, scale_each=False,
              pad_value=0.0, **kwargs):
    """Arrange a mini-batch ``B x C x H x W`` (or a list of equally sized images) in a grid.

    ``nrow`` images per row.  The result is ``C' x ((H + padding) * rows + padding) x
    ((W + padding) * min(nrow, B) + padding)``; single-channel input is repeated to three
    channels (C' = 3).  A batch of one image is returned unpadded.  With ``normalize``
    values are shifted/scaled to [0, 1] by ``value_range`` (``(min, max)``, the old keyword
    is ``range``) or by the tensor's min and max; ``scale_each`` does it per image.
    """
    if "range" in kwargs:
        warnings.warn("The parameter 'range' is deprecated since 0.12 and will be removed in 0.14. "
                      "Please use 'value_range' instead.")
        value_range = kwargs.pop("range")
    if kwargs:
        raise TypeError(f"make_grid() got unexpected keyword arguments {sorted(kwargs)}")
    if not torch.is_tensor(tensor):
        if isinstance(tensor, list):
            for t in tensor:
                if not torch.is_tensor(t):
                    raise TypeError(f"tensor or list of tensors expected, got a list containing {type(t)}")
        else:
            raise TypeError(f"tensor or list of tensors expected, got {type(tensor)}")
    if isinstance(tensor, list):
        tensor = torch.stack(tensor, dim=0)
    if tensor.dim() == 2:  # single image H x W
        tensor = tensor.unsqueeze(0)
    if tensor.dim() == 3:  # single image
        if tensor.size(0) == 1:  # grey -> three channels
            tensor = torch.cat((tensor, tensor, tensor), 0)
        tensor = tensor.unsqueeze(0)
    if tensor.dim() == 4 and tensor.size(1) == 1:  # grey batch
        tensor = torch.cat((tensor, tensor, tensor), 1)

    if normalize is True:
        tensor = tensor.clone()  # never modify the caller's tensor
        if value_range is not None and not isinstance(value_range, tuple):
            raise TypeError("value_range has to be a tuple (min, max) if specified. min and max are numbers")

        def norm_ip(img, low, high):
            img.clamp_(min=low, max=high)
            img.sub_(low).div_(max(high - low, 1e-5))

        def norm_range(t, value_range):
            if value_range is not None:
                norm_ip(t, value_range[0], value_range[1])
            else:
                norm_ip(t, float(t.min()), float(t.max()))

        if scale_each is True:
            for t in tensor:
                norm_range(t, value_range)
        else:
            norm_range(tensor, value_range)

    if not isinstance(tensor, torch.Tensor):
        raise TypeError("tensor should be of type torch.Tensor")
    if tensor.size(0) == 1:
        return tensor.squeeze(0)

    nmaps = tensor.size(0)
    xmaps = min(nrow, nmaps)
    ymaps = int(math.ceil(float(nmaps) / xmaps))
    height, width = int(tensor.size(2) + padding), int(tensor.size(3) + padding)
    num_channels = tensor.size(1)
    grid = tensor.new_full((num_channels, height * ymaps + padding, width * xmaps + padding), pad_value)
    k = 0
    for y in range(ymaps):
        for x in range(xmaps):
            if k >= nmaps:
                break
            grid[:, y * height + padding:(y + 1) * height, x * width + padding:(x + 1) * width] = tensor[k]
            k += 1
    return grid


@torch.no_grad()
def save_image(tensor, fp, format=None, **kwargs):
    """Write ``make_grid(tensor, **kwargs)`` as an image file (PNG unless ``format``/suffix says otherwise).

    Values are expected in [0, 1]; they are scaled to 0..255, rounded and clamped.
    """
    from PIL import Image

    grid = make_grid(tensor, **kwargs)
    ndarr = grid.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to("cpu", torch.uint8).numpy()
    if ndarr.shape[2] == 1:
        ndarr = ndarr[:, :, 0]
    im = Image.fromarray(ndarr)
    if isinstance(fp, pathlib.Path):
        fp = str(fp)
    im.save(fp, format=format)
