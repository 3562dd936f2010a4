"""Offline stand-in for ``torchvision`` -- for faultlens's external benchmark ONLY.

This is not torchvision and contains no torchvision code: it is written from the
documented API so that real public PyTorch programs (pytorch/examples, tutorials, ...)
run without network access.  It is never a dependency of faultlens; benchmark runs
put ``benchmarks/external/standins`` first on ``PYTHONPATH``.

Provided: ``datasets`` (MNIST, FashionMNIST, CIFAR10, CIFAR100, FakeData, ImageFolder,
DatasetFolder), ``transforms`` (+ ``transforms.functional``), ``utils`` (make_grid,
save_image), ``models`` (resnet18/34/50, no pretrained weights).

Data sets
---------
``download`` is accepted and ignored: nothing is ever downloaded.  The images are
generated deterministically (fixed seeds; train and test use different seeds) and are
learnable look-alikes with the real per-sample shapes and dtypes:

* MNIST: scikit-learn's bundled 8x8 digits warped to 28x28 (shift, rotation, scale,
  shear, stroke thickness, noise); dark background, mean ~0.13 / std ~0.3 after ToTensor.
* FashionMNIST: ten generated garment silhouettes with textures, 28x28 grey.
* CIFAR10 / CIFAR100: generated 32x32 colour scenes (class palettes, shapes, textures).

They are cached as ``.npz`` under ``root`` (``root/MNIST/standin/...``,
``root/cifar-10-batches-py/standin/...``), so a second construction is instant.

Sizes: the real sets have 60000/10000 (MNIST, FashionMNIST) and 50000/10000 (CIFAR)
train/test samples.  The stand-ins default to 6000/1000 (MNIST, FashionMNIST) and
5000/1000 (CIFAR).  Environment variables override the number of samples:

* ``FAULTLENS_STANDIN_TRAIN``  -- samples in every train split
* ``FAULTLENS_STANDIN_TEST``   -- samples in every test split
* ``FAULTLENS_STANDIN_STRICT_DOWNLOAD=1`` -- behave like the real data sets when the
  files are absent: constructing with ``download=False`` before any ``download=True``
  construction under the same ``root`` raises ``RuntimeError("Dataset not found. ...")``.
"""
__version__ = "0.0-faultlens-standin"

from . import datasets, models, transforms, utils  # noqa: E402

_image_backend = "PIL"


def get_image_backend():
    return _image_backend


def set_image_backend(backend):
    global _image_backend
    if backend not in ("PIL", "accimage"):
        raise ValueError(f"Invalid backend '{backend}'. Options are 'PIL' and 'accimage'")
    _image_backend = backend


__all__ = ["datasets", "models", "transforms", "utils", "get_image_backend", "set_image_backend", "__version__"]
