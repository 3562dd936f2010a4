"""The benchmark-only torchvision stand-in (benchmarks/external/standins/torchvision).

It is imported by putting benchmarks/external/standins first on sys.path, as benchmark
runs do with PYTHONPATH.  Pillow is optional for faultlens, so the PIL-specific checks
skip without it.
"""
from __future__ import annotations

import importlib
import math
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

STANDINS = Path(__file__).resolve().parents[1] / "benchmarks" / "external" / "standins"
if str(STANDINS) not in sys.path:
    sys.path.insert(0, str(STANDINS))

torchvision = importlib.import_module("torchvision")
if not torchvision.__file__.startswith(str(STANDINS)):  # pragma: no cover - a real torchvision was imported first
    pytest.skip("a real torchvision is already imported in this session", allow_module_level=True)

from torchvision import datasets, transforms, utils  # noqa: E402
from torchvision.transforms import functional as TF  # noqa: E402

_STANDIN_MODULES: dict = {}


def _hide_standin() -> None:
    """Take the stand-in out of sys.modules and sys.path: the rest of the test session (a
    library that probes for torchvision, such as torchmetrics under Lightning) must not find it."""
    for name in [k for k in sys.modules if k == "torchvision" or k.startswith("torchvision.")]:
        _STANDIN_MODULES[name] = sys.modules.pop(name)
    while str(STANDINS) in sys.path:
        sys.path.remove(str(STANDINS))


_hide_standin()  # at collection time, right after this module imported it


@pytest.fixture(autouse=True)
def _standin_visible():
    """This module's tests see the stand-in, as a benchmark run does; nothing else does."""
    sys.path.insert(0, str(STANDINS))
    sys.modules.update(_STANDIN_MODULES)
    yield
    _hide_standin()

try:
    from PIL import Image
except ImportError:  # pragma: no cover
    Image = None

needs_pil = pytest.mark.skipif(Image is None, reason="Pillow not installed")


@pytest.fixture
def small(monkeypatch):
    monkeypatch.setenv("FAULTLENS_STANDIN_TRAIN", "200")
    monkeypatch.setenv("FAULTLENS_STANDIN_TEST", "100")
    monkeypatch.delenv("FAULTLENS_STANDIN_STRICT_DOWNLOAD", raising=False)


def test_import_surface():
    import torchvision.datasets as dset
    import torchvision.transforms as T
    from torchvision.utils import make_grid, save_image  # noqa: F401

    assert torchvision.__version__ == "0.0-faultlens-standin"
    assert torchvision.datasets is dset and torchvision.transforms is T and torchvision.utils is utils
    for name in ("MNIST", "FashionMNIST", "CIFAR10", "CIFAR100", "FakeData", "ImageFolder"):
        assert hasattr(dset, name)
    for name in ("Compose", "ToTensor", "Normalize", "Resize", "CenterCrop", "RandomCrop", "RandomHorizontalFlip",
                 "Lambda", "Grayscale", "ToPILImage", "Pad", "RandomResizedCrop"):
        assert hasattr(T, name)
    assert callable(T.functional.to_tensor) and callable(T.functional.normalize)
    assert callable(torchvision.models.resnet18)


@pytest.mark.parametrize("cls", ["MNIST", "FashionMNIST"])
def test_mnist_format(cls, small, tmp_path):
    D = getattr(datasets, cls)
    tr = D(str(tmp_path), train=True, download=True)
    te = D(str(tmp_path), train=False)
    assert len(tr) == 200 and len(te) == 100
    assert tr.data.shape == (200, 28, 28) and tr.data.dtype == torch.uint8
    assert tr.targets.shape == (200,) and tr.targets.dtype == torch.int64
    assert set(tr.targets.tolist()) == set(range(10))
    assert len(tr.classes) == 10 and tr.class_to_idx[tr.classes[3]] == 3
    if cls == "MNIST":
        assert tr.classes[0] == "0 - zero"
    else:
        assert tr.classes == ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                              "Bag", "Ankle boot"]
    with pytest.warns(UserWarning):
        assert tr.train_data is tr.data
    with pytest.warns(UserWarning):
        assert tr.train_labels is tr.targets
    with pytest.warns(UserWarning):
        assert te.test_data is te.data
    with pytest.warns(UserWarning):
        assert te.test_labels is te.targets
    img, target = tr[5]
    assert isinstance(target, int) and target == int(tr.targets[5])
    if Image is not None:
        assert isinstance(img, Image.Image) and img.mode == "L" and img.size == (28, 28)
    else:
        assert isinstance(img, np.ndarray) and img.shape == (28, 28)
    # dark background and MNIST-like intensity statistics
    x = tr.data.float() / 255
    assert (tr.data == 0).float().mean() > 0.5
    assert 0.05 < x.mean() < 0.35 and 0.2 < x.std() < 0.4


def test_transformed_items_and_dataloader(small, tmp_path):
    T = transforms
    tf = T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,))])
    ds = datasets.MNIST(str(tmp_path), train=True, download=True, transform=tf, target_transform=lambda y: y + 100)
    x, y = ds[0]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and y >= 100
    raw = ds.data[0].float() / 255
    assert torch.allclose(x[0], (raw - 0.1307) / 0.3081, atol=1e-5)
    loader = torch.utils.data.DataLoader(ds, batch_size=32, shuffle=True)
    batches = list(loader)
    assert len(batches) == math.ceil(200 / 32)
    xb, yb = batches[0]
    assert xb.shape == (32, 1, 28, 28) and yb.shape == (32,) and yb.dtype == torch.int64

    cifar_tf = T.Compose([T.ToTensor(), T.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])
    c = datasets.CIFAR10(str(tmp_path), train=False, download=True, transform=cifar_tf)
    assert isinstance(c.data, np.ndarray) and c.data.shape == (100, 32, 32, 3) and c.data.dtype == np.uint8
    assert isinstance(c.targets, list) and all(isinstance(t, int) for t in c.targets)
    assert c.classes[0] == "airplane" and len(c.classes) == 10
    x, y = c[0]
    assert x.shape == (3, 32, 32) and -1.0 <= float(x.min()) and float(x.max()) <= 1.0
    xb, yb = next(iter(torch.utils.data.DataLoader(c, batch_size=4, shuffle=True)))
    assert xb.shape == (4, 3, 32, 32) and yb.dtype == torch.int64
    if Image is not None:
        raw = datasets.CIFAR10(str(tmp_path), train=False)[0][0]
        assert raw.mode == "RGB" and raw.size == (32, 32)


def test_determinism_cache_and_sizes(small, tmp_path, monkeypatch):
    a = datasets.MNIST(str(tmp_path / "a"), train=True)
    b = datasets.MNIST(str(tmp_path / "b"), train=True)
    assert torch.equal(a.data, b.data) and torch.equal(a.targets, b.targets)
    test = datasets.MNIST(str(tmp_path / "a"), train=False)
    assert not torch.equal(a.data[:100], test.data)
    fashion = datasets.FashionMNIST(str(tmp_path / "a"), train=True)
    assert not torch.equal(a.data, fashion.data)
    cached = list((tmp_path / "a" / "MNIST").rglob("*.npz"))
    assert len(cached) == 2

    from torchvision.datasets import _synthetic

    def fail(*args, **kwargs):
        raise AssertionError("generated again instead of loading the cache")

    with monkeypatch.context() as m:
        m.setattr(_synthetic, "generate", fail)
        t0 = time.perf_counter()
        again = datasets.MNIST(str(tmp_path / "a"), train=True)
        assert time.perf_counter() - t0 < 1.0
    assert torch.equal(again.data, a.data)

    monkeypatch.setenv("FAULTLENS_STANDIN_TRAIN", "30")
    assert len(datasets.CIFAR10(str(tmp_path), train=True)) == 30
    monkeypatch.delenv("FAULTLENS_STANDIN_TRAIN")
    monkeypatch.delenv("FAULTLENS_STANDIN_TEST")
    from torchvision.datasets.vision import split_size

    assert split_size("mnist", True) == 6000 and split_size("mnist", False) == 1000
    assert split_size("cifar", True) == 5000 and split_size("cifar", False) == 1000


def test_strict_download_mode(small, tmp_path, monkeypatch):
    monkeypatch.setenv("FAULTLENS_STANDIN_STRICT_DOWNLOAD", "1")
    with pytest.raises(RuntimeError, match="Dataset not found"):
        datasets.MNIST(str(tmp_path), train=False)
    datasets.MNIST(str(tmp_path), train=True, download=True)  # "downloads" both splits
    assert len(datasets.MNIST(str(tmp_path), train=False)) == 100


def test_fakedata():
    fd = datasets.FakeData(size=5, image_size=(3, 16, 20), num_classes=4, transform=transforms.ToTensor())
    assert len(fd) == 5
    x, y = fd[2]
    assert x.shape == (3, 16, 20) and x.dtype == torch.float32 and 0 <= y < 4
    assert torch.equal(fd[2][0], x)  # reproducible per index
    with pytest.raises(IndexError):
        fd[5]


def test_mnist_lookalike_is_learnable(monkeypatch, tmp_path):
    monkeypatch.setenv("FAULTLENS_STANDIN_TRAIN", "2000")
    monkeypatch.setenv("FAULTLENS_STANDIN_TEST", "500")
    tr = datasets.MNIST(str(tmp_path), train=True)
    te = datasets.MNIST(str(tmp_path), train=False)

    def prep(ds):
        return ((ds.data.float() / 255 - 0.1307) / 0.3081).flatten(1), ds.targets

    (x, y), (xt, yt) = prep(tr), prep(te)
    # multinomial logistic regression, plain minibatch SGD written out (constructing a
    # torch.optim optimizer imports torch._dynamo, which alone can take seconds)
    g = torch.Generator().manual_seed(0)
    w = torch.zeros(784, 10, requires_grad=True)
    b = torch.zeros(10, requires_grad=True)
    t0 = time.perf_counter()
    for _ in range(2):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 50):
            idx = perm[i:i + 50]
            loss = torch.nn.functional.cross_entropy(x[idx] @ w + b, y[idx])
            gw, gb = torch.autograd.grad(loss, (w, b))
            with torch.no_grad():
                w -= 0.05 * gw
                b -= 0.05 * gb
    train_s = time.perf_counter() - t0
    with torch.no_grad():
        acc = ((xt @ w + b).argmax(1) == yt).float().mean().item()
    assert acc >= 0.7, (acc, train_s)


def test_make_grid_layout():
    for b, nrow, padding in [(16, 8, 2), (10, 4, 1), (3, 8, 0), (64, 8, 2)]:
        g = utils.make_grid(torch.rand(b, 3, 7, 5), nrow=nrow, padding=padding)
        xmaps = min(nrow, b)
        ymaps = math.ceil(b / xmaps)
        assert g.shape == (3, (7 + padding) * ymaps + padding, (5 + padding) * xmaps + padding)
    grey = utils.make_grid(torch.rand(5, 1, 4, 4), nrow=5, padding=2, pad_value=0.5)
    assert grey.shape == (3, 8, 32) and float(grey[0, 0, 0]) == 0.5
    single = torch.rand(1, 3, 4, 4)
    assert torch.equal(utils.make_grid(single), single[0])
    t = torch.rand(4, 3, 4, 4) * 10 - 5
    before = t.clone()
    g = utils.make_grid(t, normalize=True, padding=0)
    assert torch.equal(t, before) and abs(float(g.min())) < 1e-6 and abs(float(g.max()) - 1) < 1e-6
    g = utils.make_grid(t, normalize=True, value_range=(-1, 1), padding=0)
    assert float(g.min()) == 0.0 and float(g.max()) == 1.0
    with pytest.warns(UserWarning):
        g_old = utils.make_grid(t, normalize=True, range=(-1, 1), padding=0)
    assert torch.equal(g, g_old)
    assert utils.make_grid([torch.rand(3, 4, 4)] * 3, nrow=3, padding=1).shape == (3, 6, 16)


@needs_pil
def test_save_image_writes_png(tmp_path):
    path = tmp_path / "grid.png"
    batch = torch.rand(6, 1, 28, 28)
    utils.save_image(batch, str(path), nrow=3, padding=2)
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size == (3 * 30 + 2, 2 * 30 + 2) and im.mode == "RGB"
        arr = np.asarray(im)
    expected = (batch[0, 0].mul(255).add(0.5).clamp(0, 255).to(torch.uint8)).numpy()
    assert np.array_equal(arr[2:30, 2:30, 0], expected)
    utils.save_image(torch.rand(3, 8, 8), tmp_path / "one.png")
    with Image.open(tmp_path / "one.png") as im:
        assert im.size == (8, 8)


def test_transform_semantics():
    T = transforms
    arr = (np.arange(2 * 3 * 3) % 256).astype(np.uint8).reshape(2, 3, 3)
    t = T.ToTensor()(arr)
    assert t.shape == (3, 2, 3) and t.dtype == torch.float32 and float(t.max()) <= 1.0
    assert T.ToTensor()(np.zeros((4, 5), np.uint8)).shape == (1, 4, 5)
    with pytest.raises(TypeError, match="pic should be PIL Image or ndarray"):
        T.ToTensor()(torch.zeros(1, 4, 4))
    # three-channel statistics on a one-channel image fail like torchvision does
    with pytest.raises(RuntimeError):
        T.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))(torch.rand(1, 28, 28))
    x = torch.rand(3, 4, 4)
    y = T.Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))(x)
    assert torch.allclose(y, (x - 0.5) / 0.25) and not torch.equal(x, y)
    with pytest.raises(TypeError):
        T.Normalize((0.5,), (0.5,))(torch.zeros(1, 4, 4, dtype=torch.uint8))
    assert T.Lambda(lambda v: v * 2)(3) == 6
    with pytest.raises(TypeError):
        T.Lambda(3)
    img = torch.rand(3, 32, 48)
    assert T.Resize(16)(img).shape == (3, 16, 24)
    assert T.Resize((10, 12))(img).shape == (3, 10, 12)
    assert T.CenterCrop(20)(img).shape == (3, 20, 20)
    assert T.CenterCrop(40)(img).shape == (3, 40, 40)
    assert T.RandomCrop(32, padding=4)(img).shape == (3, 32, 32)
    assert T.Pad(2)(img).shape == (3, 36, 52) and T.Pad((1, 2))(img).shape == (3, 36, 50)
    assert T.Pad((1, 2, 3, 4), padding_mode="reflect")(img).shape == (3, 38, 52)
    assert torch.equal(T.RandomHorizontalFlip(p=1.0)(img), img.flip(-1))
    assert torch.equal(T.RandomHorizontalFlip(p=0.0)(img), img)
    assert T.Grayscale()(img).shape == (1, 32, 48) and T.Grayscale(3)(img).shape == (3, 32, 48)
    assert T.RandomResizedCrop(24)(img).shape == (3, 24, 24)
    assert TF.normalize(TF.to_tensor(np.zeros((5, 5), np.uint8)), [0.5], [0.5]).shape == (1, 5, 5)


@needs_pil
def test_pil_transforms():
    T = transforms
    rgb = Image.fromarray(np.random.RandomState(0).randint(0, 256, (32, 40, 3), dtype=np.uint8))
    assert T.Resize(16)(rgb).size == (20, 16)
    assert T.Resize((10, 12))(rgb).size == (12, 10)
    assert T.CenterCrop(24)(rgb).size == (24, 24)
    assert T.RandomCrop(32, padding=4)(rgb).size == (32, 32)
    assert T.Pad(3, fill=(255, 0, 0))(rgb).getpixel((0, 0)) == (255, 0, 0)
    assert T.Grayscale()(rgb).mode == "L" and T.Grayscale(3)(rgb).mode == "RGB"
    assert np.array_equal(np.asarray(T.RandomHorizontalFlip(p=1.0)(rgb)), np.asarray(rgb)[:, ::-1])
    t = T.ToTensor()(rgb)
    assert t.shape == (3, 32, 40) and torch.allclose(t[:, 0, 0] * 255, torch.tensor(rgb.getpixel((0, 0))).float())
    back = T.ToPILImage()(t)
    assert back.mode == "RGB" and back.size == (40, 32)
    assert T.ToPILImage()(torch.rand(1, 8, 8)).mode == "L"
    pipeline = T.Compose([T.Resize(64), T.CenterCrop(64), T.ToTensor(), T.Normalize((0.5,), (0.5,))])
    assert pipeline(Image.fromarray(np.zeros((28, 28), np.uint8))).shape == (1, 64, 64)


def test_resnet18_structure():
    m = torchvision.models.resnet18(weights=None)
    names = [n for n, _ in m.named_children()]
    assert names == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc"]
    assert m.fc.in_features == 512 and m.fc.out_features == 1000
    m.conv1 = torch.nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    trunk = torch.nn.Sequential(*list(m.children())[:-1])
    assert trunk(torch.rand(2, 1, 28, 28)).shape == (2, 512, 1, 1)
    with pytest.raises(RuntimeError):
        torchvision.models.resnet18(weights="IMAGENET1K_V1")


def test_cifar100_format(small, tmp_path):
    c = datasets.CIFAR100(str(tmp_path), train=True, download=True)
    assert c.data.shape == (200, 32, 32, 3) and c.data.dtype == np.uint8
    assert len(c.classes) == 100 and c.classes[0] == "apple" and c.classes[-1] == "worm"
    assert sorted(set(c.targets)) == list(range(100))


@needs_pil
def test_image_folder(tmp_path):
    rng = np.random.RandomState(0)
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.fromarray(rng.randint(0, 256, (10, 12, 3), dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    ds = datasets.ImageFolder(str(tmp_path), transform=transforms.Compose([transforms.Resize(8), transforms.ToTensor()]))
    assert ds.classes == ["cat", "dog"] and ds.class_to_idx == {"cat": 0, "dog": 1}
    assert len(ds) == 6 and ds.targets == [0, 0, 0, 1, 1, 1] and ds.imgs == ds.samples
    x, y = ds[4]
    assert x.shape == (3, 8, 9) and y == 1
    with pytest.raises(FileNotFoundError):
        datasets.ImageFolder(str(tmp_path / "cat"))
