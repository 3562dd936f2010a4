"""Stand-in ``torchvision.transforms.functional``: the functional forms of the transforms.

Images are PIL images (when Pillow is importable), numpy arrays (``to_tensor`` only) or
tensors ``[..., C, H, W]``.  Semantics follow the documented torchvision behaviour.
"""
from __future__ import annotations

import numbers
import warnings
from enum import Enum

import numpy as np
import torch
import torch.nn.functional as _F

try:
    from PIL import Image

    _PIL_OK = True
except ImportError:  # pragma: no cover - depends on the environment
    Image = None
    _PIL_OK = False


class InterpolationMode(Enum):
    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


# PIL's integer filter constants
_INT_TO_MODE = {0: InterpolationMode.NEAREST, 1: InterpolationMode.LANCZOS, 2: InterpolationMode.BILINEAR,
                3: InterpolationMode.BICUBIC, 4: InterpolationMode.BOX, 5: InterpolationMode.HAMMING}
_MODE_TO_PIL = {InterpolationMode.NEAREST: 0, InterpolationMode.NEAREST_EXACT: 0, InterpolationMode.LANCZOS: 1,
                InterpolationMode.BILINEAR: 2, InterpolationMode.BICUBIC: 3, InterpolationMode.BOX: 4,
                InterpolationMode.HAMMING: 5}


def _interpolation_mode(interpolation):
    if isinstance(interpolation, InterpolationMode):
        return interpolation
    if isinstance(interpolation, int) and interpolation in _INT_TO_MODE:
        warnings.warn("Argument 'interpolation' of type int is deprecated. "
                      "Please, use InterpolationMode enum.")
        return _INT_TO_MODE[interpolation]
    if isinstance(interpolation, str):
        return InterpolationMode(interpolation)
    raise TypeError("Argument interpolation should be of type InterpolationMode")


def _is_pil_image(img):
    return _PIL_OK and isinstance(img, Image.Image)


def _is_numpy(img):
    return isinstance(img, np.ndarray)


def _check_image(img):
    if not (_is_pil_image(img) or isinstance(img, torch.Tensor)):
        raise TypeError(f"img should be PIL Image or Tensor. Got {type(img)}")


def get_dimensions(img):
    """``[channels, height, width]``."""
    if isinstance(img, torch.Tensor):
        if img.ndim < 2:
            raise TypeError(f"Tensor is not a torch image. Got {img.ndim} dims")
        channels = 1 if img.ndim == 2 else img.shape[-3]
        return [channels, img.shape[-2], img.shape[-1]]
    _check_image(img)
    width, height = img.size
    return [len(img.getbands()), height, width]


def get_image_size(img):
    """``[width, height]``."""
    _, h, w = get_dimensions(img)
    return [w, h]


def get_image_num_channels(img):
    return get_dimensions(img)[0]


# ----------------------------------------------------------------------------- conversions


def to_tensor(pic):
    """PIL image or numpy ``HxW(xC)`` array -> tensor ``CxHxW``; uint8 data become float in [0, 1]."""
    if not (_is_pil_image(pic) or _is_numpy(pic)):
        raise TypeError(f"pic should be PIL Image or ndarray. Got {type(pic)}")
    if _is_numpy(pic) and pic.ndim not in {2, 3}:
        raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
    default_float_dtype = torch.get_default_dtype()
    if _is_numpy(pic):
        arr = pic[:, :, None] if pic.ndim == 2 else pic
        img = torch.from_numpy(np.ascontiguousarray(arr.transpose((2, 0, 1)))).contiguous()
        if img.dtype == torch.uint8:
            return img.to(dtype=default_float_dtype).div(255)
        return img
    mode = pic.mode
    if mode == "I":
        arr = np.array(pic, np.int32, copy=True)
    elif mode == "I;16":
        arr = np.array(pic, np.int16, copy=True)
    elif mode == "F":
        arr = np.array(pic, np.float32, copy=True)
    elif mode == "1":
        arr = 255 * np.array(pic, np.uint8, copy=True)
    else:
        arr = np.array(pic, np.uint8, copy=True)
    img = torch.from_numpy(arr)
    img = img.view(pic.size[1], pic.size[0], len(pic.getbands()))
    img = img.permute((2, 0, 1)).contiguous()
    if img.dtype == torch.uint8:
        return img.to(dtype=default_float_dtype).div(255)
    return img


def pil_to_tensor(pic):
    """PIL image -> tensor ``CxHxW`` of the same dtype (no scaling)."""
    if not _is_pil_image(pic):
        raise TypeError(f"pic should be PIL Image. Got {type(pic)}")
    arr = np.array(pic, copy=True)
    img = torch.as_tensor(arr)
    img = img.view(pic.size[1], pic.size[0], len(pic.getbands()))
    return img.permute((2, 0, 1)).contiguous()


_MAX_VALUE = {torch.uint8: 255, torch.int8: 127, torch.int16: 32767, torch.int32: 2147483647,
              torch.int64: 9223372036854775807}


def convert_image_dtype(image, dtype=torch.float):
    """Convert a tensor image to ``dtype``, rescaling values (uint8 255 <-> float 1.0)."""
    if not isinstance(image, torch.Tensor):
        raise TypeError("Input img should be Tensor Image")
    if image.dtype == dtype:
        return image
    if image.is_floating_point():
        if torch.tensor(0, dtype=dtype).is_floating_point():
            return image.to(dtype)
        eps = 1e-3
        return image.mul(_MAX_VALUE[dtype] + 1.0 - eps).to(dtype)
    if torch.tensor(0, dtype=dtype).is_floating_point():
        return image.to(dtype).div(_MAX_VALUE[image.dtype])
    src, dst = _MAX_VALUE[image.dtype], _MAX_VALUE[dtype]
    if src > dst:
        factor = (src + 1) // (dst + 1)
        return torch.div(image, factor, rounding_mode="floor").to(dtype)
    factor = (dst + 1) // (src + 1)
    return image.to(dtype) * factor


def to_pil_image(pic, mode=None):
    """Tensor ``CxHxW`` or ndarray ``HxWxC`` -> PIL image (float data are scaled by 255)."""
    if not _PIL_OK:
        raise ImportError("to_pil_image needs Pillow")
    if isinstance(pic, torch.Tensor):
        if pic.ndim == 3:
            pic = pic.permute((1, 2, 0))
        pic = pic.detach().cpu().numpy()
    elif not isinstance(pic, np.ndarray):
        raise TypeError(f"pic should be Tensor or ndarray. Got {type(pic)}.")
    if pic.ndim == 2:
        pic = np.expand_dims(pic, 2)
    if pic.ndim != 3:
        raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
    if pic.shape[-1] > 4:
        raise ValueError(f"pic should not have > 4 channels. Got {pic.shape[-1]} channels.")
    npimg = pic
    if np.issubdtype(npimg.dtype, np.floating) and mode != "F":
        npimg = (npimg * 255).astype(np.uint8)
    channels = npimg.shape[2]
    if channels == 1:
        expected = {np.dtype(np.uint8): "L", np.dtype(np.int16): "I;16", np.dtype(np.uint16): "I;16",
                    np.dtype(np.int32): "I", np.dtype(np.float32): "F"}.get(npimg.dtype)
        if mode is not None and mode != expected:
            raise ValueError(f"Incorrect mode ({mode}) supplied for input type {npimg.dtype}. Should be {expected}")
        if expected is None:
            raise TypeError(f"Input type {npimg.dtype} is not supported")
        mode = expected
        arr = npimg[:, :, 0]
        if mode == "I;16":
            arr = arr.astype("<u2")
        elif mode == "I":
            arr = arr.astype(np.int32)
        elif mode == "F":
            arr = arr.astype(np.float32)
    else:
        permitted = {2: ["LA"], 3: ["RGB", "YCbCr", "HSV"], 4: ["RGBA", "CMYK", "RGBX"]}[channels]
        if mode is not None and mode not in permitted:
            raise ValueError(f"Only modes {permitted} are supported for {channels}D inputs")
        if mode is None:
            mode = permitted[0]
        if npimg.dtype != np.uint8:
            raise TypeError(f"Input type {npimg.dtype} is not supported")
        arr = npimg
    arr = np.ascontiguousarray(arr)
    return Image.frombytes(mode, (arr.shape[1], arr.shape[0]), arr.tobytes())


def normalize(tensor, mean, std, inplace=False):
    """``(tensor - mean[c]) / std[c]`` per channel of a float tensor image ``[..., C, H, W]``."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"img should be Tensor Image. Got {type(tensor)}")
    if not tensor.is_floating_point():
        raise TypeError(f"Input tensor should be a float tensor. Got {tensor.dtype}.")
    if tensor.ndim < 3:
        raise ValueError("Expected tensor to be a tensor image of size (..., C, H, W). Got tensor.size() = "
                         f"{tensor.size()}")
    if not inplace:
        tensor = tensor.clone()
    dtype = tensor.dtype
    mean = torch.as_tensor(mean, dtype=dtype, device=tensor.device)
    std = torch.as_tensor(std, dtype=dtype, device=tensor.device)
    if (std == 0).any():
        raise ValueError(f"std evaluated to zero after conversion to {dtype}, leading to division by zero.")
    if mean.ndim == 1:
        mean = mean.view(-1, 1, 1)
    if std.ndim == 1:
        std = std.view(-1, 1, 1)
    return tensor.sub_(mean).div_(std)


# ----------------------------------------------------------------------------- geometry


def _compute_resized_output_size(image_size, size, max_size=None):
    h, w = image_size
    if isinstance(size, int) or len(size) == 1:
        requested = size if isinstance(size, int) else size[0]
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = requested, int(requested * long / short)
        if max_size is not None:
            if max_size <= requested:
                raise ValueError(f"max_size = {max_size} must be strictly greater than the requested "
                                 f"size for the smaller edge size = {size}")
            if new_long > max_size:
                new_short, new_long = int(max_size * new_short / new_long), max_size
        new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
        return [new_h, new_w]
    return [size[0], size[1]]


def _as_4d_float(img):
    shape = img.shape
    x = img.reshape(-1, *shape[-3:]) if img.ndim >= 3 else img.reshape(1, 1, *shape)
    orig_dtype = x.dtype
    if not x.is_floating_point():
        x = x.to(torch.float32)
    return x, shape, orig_dtype


def _from_4d(x, shape, orig_dtype):
    if not orig_dtype.is_floating_point:
        if orig_dtype == torch.uint8:
            x = x.round().clamp(0, 255)
        else:
            x = x.round()
        x = x.to(orig_dtype)
    return x.reshape(*shape[:-2], x.shape[-2], x.shape[-1])


def resize(img, size, interpolation=InterpolationMode.BILINEAR, max_size=None, antialias=True):
    """Resize to ``size`` ``(h, w)``, or match the smaller edge to ``size`` when it is an int."""
    interpolation = _interpolation_mode(interpolation)
    if isinstance(size, (list, tuple)):
        if len(size) not in (1, 2):
            raise ValueError(f"Size must be an int or a 1 or 2 element tuple/list, not a {len(size)} element tuple/list")
        if max_size is not None and len(size) != 1:
            raise ValueError("max_size should only be passed if size specifies the length of the smaller edge, "
                             "i.e. size should be an int or a sequence of length 1 in torchscript mode.")
    elif not isinstance(size, int):
        raise TypeError(f"Size should be int or sequence. Got {type(size)}")
    _, h, w = get_dimensions(img)
    out_h, out_w = _compute_resized_output_size((h, w), size, max_size)
    if [h, w] == [out_h, out_w]:
        return img
    if _is_pil_image(img):
        return img.resize((out_w, out_h), _MODE_TO_PIL[interpolation])
    _check_image(img)
    x, shape, orig_dtype = _as_4d_float(img)
    mode = interpolation.value
    if mode not in ("nearest", "nearest-exact", "bilinear", "bicubic"):
        raise ValueError(f"Interpolation mode {mode} is unsupported with Tensor input")
    kwargs = {}
    if mode in ("bilinear", "bicubic"):
        kwargs = {"align_corners": False, "antialias": bool(antialias)}
    y = _F.interpolate(x, size=(out_h, out_w), mode=mode, **kwargs)
    if mode == "bicubic" and orig_dtype == torch.uint8:
        y = y.clamp(0, 255)
    return _from_4d(y, shape, orig_dtype)


def _parse_pad_padding(padding):
    if isinstance(padding, numbers.Number):
        if not isinstance(padding, int):
            raise TypeError("Got inappropriate padding arg")
        return [padding] * 4
    if not isinstance(padding, (list, tuple)):
        raise TypeError("Got inappropriate padding arg")
    if len(padding) == 1:
        return [padding[0]] * 4
    if len(padding) == 2:
        return [padding[0], padding[1], padding[0], padding[1]]
    if len(padding) == 4:
        return list(padding)
    raise ValueError(f"Padding must be an int or a 1, 2, or 4 element tuple, not a {len(padding)} element tuple")


def pad(img, padding, fill=0, padding_mode="constant"):
    """Pad all sides: ``padding`` int, ``(lr, tb)`` or ``(left, top, right, bottom)``."""
    if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
        raise ValueError("Padding mode should be either constant, edge, reflect or symmetric")
    left, top, right, bottom = _parse_pad_padding(padding)
    if _is_pil_image(img):
        if min(left, top, right, bottom) < 0:
            raise ValueError("Negative padding is only supported for Tensor input")
        arr = np.asarray(img)
        spec = [(top, bottom), (left, right)] + ([(0, 0)] if arr.ndim == 3 else [])
        if padding_mode == "constant":
            if arr.ndim == 3 and isinstance(fill, (tuple, list)):
                out = np.stack([np.pad(arr[..., c], spec[:2], mode="constant", constant_values=fill[c])
                                for c in range(arr.shape[2])], axis=2)
            else:
                f = fill[0] if isinstance(fill, (tuple, list)) else fill
                out = np.pad(arr, spec, mode="constant", constant_values=f)
        else:
            out = np.pad(arr, spec, mode=padding_mode)
        out = np.ascontiguousarray(out.astype(arr.dtype, copy=False))
        if img.mode == "P":
            res = Image.frombytes("P", (out.shape[1], out.shape[0]), out.tobytes())
            res.putpalette(img.getpalette())
            return res
        if img.mode == "1":
            return Image.fromarray(out)
        return Image.frombytes(img.mode, (out.shape[1], out.shape[0]), out.tobytes())
    _check_image(img)
    if padding_mode == "constant":
        f = fill if isinstance(fill, numbers.Number) else (fill[0] if fill else 0)
        return _F.pad(img, [left, right, top, bottom], mode="constant", value=float(f))
    if padding_mode == "symmetric":
        h, w = img.shape[-2:]
        rows = _symmetric_index(h, top, bottom)
        cols = _symmetric_index(w, left, right)
        return img[..., rows[:, None], cols[None, :]]
    x, shape, orig_dtype = _as_4d_float(img)
    y = _F.pad(x, [left, right, top, bottom], mode="replicate" if padding_mode == "edge" else "reflect")
    return _from_4d(y, shape, orig_dtype)


def _symmetric_index(n, before, after):
    idx = torch.arange(-before, n + after)
    period = 2 * n
    idx = idx % period
    return torch.where(idx >= n, period - 1 - idx, idx)


def crop(img, top, left, height, width):
    """Crop the box ``[top, top + height) x [left, left + width)``; outside pixels are zeros."""
    if _is_pil_image(img):
        return img.crop((left, top, left + width, top + height))
    _check_image(img)
    _, h, w = get_dimensions(img)
    right, bottom = left + width, top + height
    if left < 0 or top < 0 or right > w or bottom > h:
        pads = [max(-left, 0), max(-top, 0), max(right - w, 0), max(bottom - h, 0)]
        img = img[..., max(top, 0):min(bottom, h), max(left, 0):min(right, w)]
        return _F.pad(img, [pads[0], pads[2], pads[1], pads[3]], value=0)
    return img[..., top:bottom, left:right]


def _setup_size(size):
    if isinstance(size, numbers.Number):
        return int(size), int(size)
    if isinstance(size, (list, tuple)) and len(size) == 1:
        return size[0], size[0]
    if len(size) != 2:
        raise ValueError("Please provide only two dimensions (h, w) for size.")
    return size[0], size[1]


def center_crop(img, output_size):
    """Crop the centre ``output_size`` (int or ``(h, w)``); pads with zeros when the image is smaller."""
    crop_height, crop_width = _setup_size(output_size)
    _, image_height, image_width = get_dimensions(img)
    if crop_width > image_width or crop_height > image_height:
        padding_ltrb = [
            (crop_width - image_width) // 2 if crop_width > image_width else 0,
            (crop_height - image_height) // 2 if crop_height > image_height else 0,
            (crop_width - image_width + 1) // 2 if crop_width > image_width else 0,
            (crop_height - image_height + 1) // 2 if crop_height > image_height else 0,
        ]
        img = pad(img, padding_ltrb, fill=0)
        _, image_height, image_width = get_dimensions(img)
        if crop_width == image_width and crop_height == image_height:
            return img
    crop_top = int(round((image_height - crop_height) / 2.0))
    crop_left = int(round((image_width - crop_width) / 2.0))
    return crop(img, crop_top, crop_left, crop_height, crop_width)


def resized_crop(img, top, left, height, width, size, interpolation=InterpolationMode.BILINEAR, antialias=True):
    img = crop(img, top, left, height, width)
    return resize(img, size, interpolation, antialias=antialias)


def hflip(img):
    if _is_pil_image(img):
        return img.transpose(getattr(Image, "Transpose", Image).FLIP_LEFT_RIGHT)
    _check_image(img)
    return img.flip(-1)


def vflip(img):
    if _is_pil_image(img):
        return img.transpose(getattr(Image, "Transpose", Image).FLIP_TOP_BOTTOM)
    _check_image(img)
    return img.flip(-2)


# ----------------------------------------------------------------------------- colour


def rgb_to_grayscale(img, num_output_channels=1):
    """ITU-R 601-2 luma: ``L = 0.2989 R + 0.587 G + 0.114 B`` (``num_output_channels`` 1 or 3)."""
    if num_output_channels not in (1, 3):
        raise ValueError("num_output_channels should be either 1 or 3")
    if _is_pil_image(img):
        out = img.convert("L")
        if num_output_channels == 3:
            arr = np.asarray(out)
            arr = np.ascontiguousarray(np.dstack([arr, arr, arr]))
            out = Image.frombytes("RGB", out.size, arr.tobytes())
        return out
    _check_image(img)
    c = get_dimensions(img)[0]
    if c not in (1, 3):
        raise TypeError(f"Input image tensor permitted channel values are 1 or 3, but found {c}")
    if c == 3:
        r, g, b = img.unbind(dim=-3)
        l_img = (0.2989 * r + 0.587 * g + 0.114 * b).to(img.dtype)
        l_img = l_img.unsqueeze(dim=-3)
    else:
        l_img = img.clone()
    if num_output_channels == 3:
        shape = list(l_img.shape)
        shape[-3] = 3
        return l_img.expand(shape)
    return l_img


def to_grayscale(img, num_output_channels=1):
    if not _is_pil_image(img):
        raise TypeError(f"img should be PIL Image. Got {type(img)}")
    return rgb_to_grayscale(img, num_output_channels)
