"""Deterministic generators for the look-alike data sets (faultlens benchmark stand-in).

``generate(kind, n, seed, split)`` returns ``(images, targets)`` as numpy arrays:
``images`` uint8, ``targets`` int64 in ``0..num_classes-1``, classes balanced and
shuffled.  All randomness comes from ``numpy.random.default_rng``; torch is used only
for deterministic CPU arithmetic and resampling (``affine_grid`` / ``grid_sample``).

* ``mnist_like``   -- scikit-learn's bundled 8x8 digits, warped to 28x28 with random
  rotation, scale, aspect, shear, shift, stroke thickness and noise.  The train and test
  splits are drawn from disjoint parts (75% / 25%) of the 1797 base digits, so test images
  come from base digits never seen in training.
* ``fashion_like`` -- ten parametric garment silhouettes (the FashionMNIST classes) with
  textures, 28x28 grey.
* ``cifar_like``   -- ten classes of 32x32 colour scenes: class-dependent background
  palettes, foreground shapes and colours, texture and noise.
"""
from __future__ import annotations

import gzip
import importlib.util
import os

import numpy as np
import torch
import torch.nn.functional as F

_DIGITS_CACHE = None


def _balanced_targets(rng, n, num_classes):
    return rng.permutation(np.arange(n) % num_classes).astype(np.int64)


def _warp(src, theta, out_hw, mode="bilinear"):
    """Resample ``src`` (N,C,h,w) with per-sample affine ``theta`` (N,2,3) to ``out_hw``."""
    n, c = src.shape[:2]
    grid = F.affine_grid(theta, (n, c, out_hw[0], out_hw[1]), align_corners=False)
    return F.grid_sample(src, grid, mode=mode, padding_mode="zeros", align_corners=False)


def _theta(rng, n, *, angle_deg, scale, aspect, shear, shift, base):
    """Inverse affine matrices (output coords -> input coords), normalised coordinates.

    ``base`` is the half-size of the source image in output normalised units before
    the random scale; ``shift`` is in output normalised units.
    """
    a = np.deg2rad(rng.uniform(-angle_deg, angle_deg, n))
    s = rng.uniform(scale[0], scale[1], n) * base
    asp = rng.uniform(aspect[0], aspect[1], n)
    sh = rng.uniform(-shear, shear, n)
    t = rng.uniform(-shift, shift, (n, 2))
    fwd = np.zeros((n, 2, 2))
    cos, sin = np.cos(a), np.sin(a)
    # forward = R @ Shear @ diag(sx, sy)
    sx, sy = s * asp, s
    fwd[:, 0, 0] = cos * sx
    fwd[:, 0, 1] = (cos * sh - sin) * sy
    fwd[:, 1, 0] = sin * sx
    fwd[:, 1, 1] = (sin * sh + cos) * sy
    inv = np.linalg.inv(fwd)
    off = -np.einsum("nij,nj->ni", inv, t)
    theta = np.concatenate([inv, off[:, :, None]], axis=2)
    return torch.from_numpy(theta.astype(np.float32))


class _one_thread:
    """Generation is many small elementwise ops; extra intra-op threads only add overhead."""

    def __enter__(self):
        self.prev = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        torch.set_num_threads(self.prev)


_CHUNK = 4096  # samples generated at a time: bounds memory for the full-size sets


def generate(kind, n, seed, split):
    """``n`` samples of ``kind`` (``"mnist"``, ``"fashion"``, ``"cifar10"``, ``"cifar100"``).

    The targets are drawn first for the whole split, then the images in fixed chunks,
    each from its own generator ``default_rng([seed, chunk_index])``.
    """
    makers = {
        "mnist": (10, lambda t, r: mnist_like(t, r, split)),
        "fashion": (10, lambda t, r: fashion_like(t, r)),
        "cifar10": (10, lambda t, r: cifar_like(t, r, 10)),
        "cifar100": (100, lambda t, r: cifar_like(t, r, 100)),
    }
    if kind not in makers:
        raise ValueError(kind)
    num_classes, make = makers[kind]
    targets = _balanced_targets(np.random.default_rng(seed), n, num_classes)
    with _one_thread(), torch.no_grad():
        chunks = [make(targets[i:i + _CHUNK], np.random.default_rng([seed, i // _CHUNK]))
                  for i in range(0, n, _CHUNK)]
    return np.concatenate(chunks), targets


def _to_uint8(x):
    return (x.clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()


# ----------------------------------------------------------------------------- MNIST


def _digits():
    global _DIGITS_CACHE
    if _DIGITS_CACHE is None:
        # read scikit-learn's bundled CSV directly: importing sklearn.datasets (and scipy)
        # would cost seconds, more than the generation itself
        raw = None
        spec = importlib.util.find_spec("sklearn")
        if spec is not None and spec.submodule_search_locations:
            path = os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data", "digits.csv.gz")
            if os.path.exists(path):
                with gzip.open(path) as f:
                    raw = np.loadtxt(f, delimiter=",", dtype=np.float32)
        if raw is not None and raw.shape == (1797, 65):
            images, target = raw[:, :64].reshape(-1, 8, 8), raw[:, 64]
        else:
            from sklearn.datasets import load_digits

            d = load_digits()
            images, target = d.images, d.target
        _DIGITS_CACHE = (images.astype(np.float32) / 16.0, target.astype(np.int64))
    return _DIGITS_CACHE


def mnist_like(targets, rng, split):
    images, labels = _digits()
    perm = np.random.RandomState(20240601).permutation(len(labels))
    cut = int(len(labels) * 0.75)
    pool = perm[:cut] if split == "train" else perm[cut:]
    n = len(targets)
    base_idx = np.empty(n, dtype=np.int64)
    for c in range(10):
        m = targets == c
        cand = pool[labels[pool] == c]
        base_idx[m] = rng.choice(cand, int(m.sum()))
    # one pixel of zero border so strokes touching the 8x8 frame end smoothly
    src = torch.from_numpy(np.pad(images[base_idx], ((0, 0), (1, 1), (1, 1)))).unsqueeze(1)
    theta = _theta(rng, n, angle_deg=10.0, scale=(0.9, 1.05), aspect=(0.85, 1.05),
                   shear=0.15, shift=1.0 / 14.0, base=(10.0 / 14.0) * (10.0 / 8.0))
    x = _warp(src, theta, (28, 28), mode="bicubic").clamp(0, 1)[:, 0]
    # stroke thickness: a soft threshold whose level varies per sample
    thr = torch.from_numpy(rng.uniform(0.3, 0.58, (n, 1, 1)).astype(np.float32))
    k = 9.0
    lo = torch.sigmoid(-k * thr)
    hi = torch.sigmoid(k * (1 - thr))
    x = (torch.sigmoid(k * (x - thr)) - lo) / (hi - lo)
    x = x.clamp(0, 1)
    # ink intensity and noise on the strokes; rare faint speckle on the background
    ink = torch.from_numpy(rng.uniform(0.8, 1.0, (n, 1, 1)).astype(np.float32))
    noise = torch.from_numpy(rng.normal(0, 0.08, (n, 28, 28)).astype(np.float32))
    x = x * ink * (1 + noise)
    speck = torch.from_numpy((rng.random((n, 28, 28)) < 0.004) * rng.uniform(0.1, 0.6, (n, 28, 28)))
    x = torch.maximum(x, speck.float())
    x[x < 0.04] = 0.0
    return _to_uint8(x)


# ----------------------------------------------------------------------------- FashionMNIST


def _soft(d, edge):
    return (d / edge + 0.5).clamp(0, 1)


def _box(u, v, x0, x1, y0, y1, e):
    return torch.minimum(torch.minimum(_soft(u - x0, e), _soft(x1 - u, e)),
                         torch.minimum(_soft(v - y0, e), _soft(y1 - v, e)))


def _ellipse(u, v, cx, cy, a, b, e):
    r = torch.sqrt(((u - cx) / a) ** 2 + ((v - cy) / b) ** 2)
    return _soft((1 - r) * torch.minimum(a, b), e)


def _trap(u, v, cx, y0, y1, w0, w1, e):
    """Trapezoid centred at cx, half-width w0 at y0 growing linearly to w1 at y1."""
    t = ((v - y0) / (y1 - y0)).clamp(0, 1)
    hw = w0 + (w1 - w0) * t
    return torch.minimum(_soft(hw - (u - cx).abs(), e),
                         torch.minimum(_soft(v - y0, e), _soft(y1 - v, e)))


def _union(*ms):
    out = ms[0]
    for m in ms[1:]:
        out = torch.maximum(out, m)
    return out


def _P(rng, n, lo, hi):
    return torch.from_numpy(rng.uniform(lo, hi, (n, 1, 1)).astype(np.float32))


def _garment(c, u, v, rng, n, e):
    """Return (mask, detail) for class ``c``; ``detail`` darkens seams/patterns (0..1)."""
    P = lambda lo, hi: _P(rng, n, lo, hi)  # noqa: E731
    zero = torch.zeros_like(u)
    if c in (0, 2, 4, 6):  # tops: T-shirt, Pullover, Coat, Shirt
        w = P(0.42, 0.58)
        top = P(-0.85, -0.7)
        bottom = P(0.7, 0.92) if c == 4 else P(0.55, 0.8)
        torso = _box(u, v, -w, w, top, bottom, e)
        if c == 0:  # short sleeves sticking out sideways
            sl = P(0.22, 0.38)
            sh = P(0.28, 0.45)
            sleeves = _trap(u, v, 0.0 * u, top, top + sh, w + sl, w + sl * 0.8, e)
            mask = _union(torso, sleeves)
        else:  # long sleeves hanging beside the torso, separated by a thin gap
            sw = P(0.16, 0.24)
            gap = P(0.02, 0.06)
            cuff = bottom - P(0.0, 0.15)
            left = _box(u, v, -w - gap - sw, -w - gap, top + 0.12, cuff, e)
            right = _box(u, v, w + gap, w + gap + sw, top + 0.12, cuff, e)
            shoulder = _trap(u, v, 0.0 * u, top, top + 0.2, w + gap + sw * 0.6, w + gap + sw, e)
            mask = _union(torso, left, right, shoulder)
        neck = _ellipse(u, v, zero, top, P(0.14, 0.24), P(0.1, 0.18), e)
        mask = mask * (1 - neck)
        detail = zero
        if c == 2:  # ribbed waist band and cuffs
            detail = 0.35 * _box(u, v, -w, w, bottom - 0.12, bottom - 0.06, e)
        elif c == 4:  # front opening (zip) and pockets
            detail = _union(0.7 * _box(u, v, -0.035 + 0 * w, 0.035 + 0 * w, top, bottom, e),
                            0.4 * _box(u, v, -w + 0.1, -w + 0.3, 0.2 + 0 * w, 0.24 + 0 * w, e),
                            0.4 * _box(u, v, w - 0.3, w - 0.1, 0.2 + 0 * w, 0.24 + 0 * w, e))
        elif c == 6:  # collar, button placket and checked pattern
            f = P(7.0, 11.0)
            ph = P(0.0, 6.28)
            check = 0.25 * ((torch.sin(f * u + ph) > 0.3).float() + (torch.sin(f * v + ph) > 0.3).float())
            collar = _trap(u, v, zero, top, top + 0.25, 0.2 + 0 * w, 0.02 + 0 * w, e)
            buttons = 0.6 * _box(u, v, -0.03 + 0 * w, 0.03 + 0 * w, top + 0.25, bottom, e) \
                * (torch.sin(v * 18.0) > 0).float()
            detail = _union(check * P(0.3, 1.0), 0.6 * collar, buttons)
        return mask, detail
    if c == 1:  # Trouser
        w = P(0.3, 0.42)
        g = P(0.025, 0.07)
        top = P(-0.92, -0.8)
        bot = P(0.8, 0.95)
        flare = P(0.0, 0.08)
        waist = _box(u, v, -w, w, top, top + 0.18, e)
        left = _trap(-u, v, (w + g) / 2, top, bot, (w - g) / 2, (w - g) / 2 + flare, e)
        right = _trap(u, v, (w + g) / 2, top, bot, (w - g) / 2, (w - g) / 2 + flare, e)
        return _union(waist, left, right), zero
    if c == 3:  # Dress
        w0 = P(0.16, 0.28)
        w1 = P(0.5, 0.8)
        top = P(-0.9, -0.75)
        bot = P(0.78, 0.95)
        waist = P(-0.35, -0.1)
        bodice = _trap(u, v, zero, top, waist, w0 + 0.05, w0, e)
        skirt = _trap(u, v, zero, waist, bot, w0, w1, e)
        neck = _ellipse(u, v, zero, top, w0 * 0.7, P(0.08, 0.15), e)
        return _union(bodice, skirt) * (1 - neck), 0.3 * _box(u, v, -w1, w1, waist - 0.03, waist + 0.03, e)
    if c == 5:  # Sandal: sole and a few thin straps
        y = P(0.2, 0.45)
        sole = _box(u, v, P(-0.95, -0.8), P(0.8, 0.95), y, y + 0.1, e)
        straps = []
        for i in range(3):
            cx = -0.55 + 0.5 * i + P(-0.08, 0.08)
            hgt = P(0.35, 0.65)
            slant = P(-0.3, 0.3)
            straps.append(_box(u - slant * (v - y), v, cx - 0.06, cx + 0.06, y - hgt, y, e))
        heel = _box(u, v, P(-0.95, -0.85), P(-0.55, -0.45), y - P(0.1, 0.3), y, e)
        return _union(sole, heel, *straps), zero
    if c == 7:  # Sneaker: low shoe, sole + rounded upper + laces
        y = P(0.3, 0.5)
        sole = _box(u, v, P(-0.95, -0.85), P(0.85, 0.97), y, y + 0.14, e)
        upper = _ellipse(u, v, P(-0.2, 0.0), y, P(0.75, 0.9), P(0.45, 0.65), e) * _soft(y - v + 0.02, e)
        laces = 0.5 * _box(u, v, -0.1 + 0 * y, 0.35 + 0 * y, y - 0.3, y - 0.1, e) * (torch.sin(u * 25) > 0).float()
        return _union(sole, upper), _union(laces, 0.5 * _box(u, v, -1.0 + 0 * y, 1.0 + 0 * y, y - 0.02, y + 0.02, e))
    if c == 8:  # Bag: body + handle ring
        w = P(0.5, 0.85)
        top = P(-0.35, -0.1)
        bot = P(0.65, 0.9)
        body = _trap(u, v, zero, top, bot, w * P(0.8, 1.0), w, e)
        ha = P(0.25, 0.45)
        hb = P(0.3, 0.55)
        outer = _ellipse(u, v, zero, top, ha, hb, e)
        inner = _ellipse(u, v, zero, top, ha - 0.1, hb - 0.1, e)
        handle = (outer - inner).clamp(0, 1) * _soft(top - v, e)
        return _union(body, handle), 0.3 * _box(u, v, -w, w, top + 0.1, top + 0.15, e)
    if c == 9:  # Ankle boot: shaft + foot + heel
        x_back = P(-0.6, -0.4)
        x_front = P(0.8, 0.95)
        y_sole = P(0.55, 0.75)
        shaft_top = P(-0.85, -0.55)
        shaft = _box(u, v, x_back, x_back + P(0.5, 0.7), shaft_top, y_sole, e)
        foot = _box(u, v, x_back, x_front, y_sole - P(0.35, 0.5), y_sole, e)
        toe = _ellipse(u, v, x_front - 0.2, y_sole - 0.2, 0.25 + 0 * x_back, 0.25 + 0 * x_back, e)
        sole = _box(u, v, x_back, x_front, y_sole - 0.06, y_sole + 0.05, e)
        return _union(shaft, foot, toe, sole), 0.45 * sole
    raise ValueError(c)


def fashion_like(targets, rng):
    n = len(targets)
    ys, xs = torch.meshgrid(torch.linspace(-0.98, 0.98, 28), torch.linspace(-0.98, 0.98, 28), indexing="ij")
    out = torch.zeros(n, 28, 28)
    e = 0.09
    for c in range(10):
        idx = np.nonzero(targets == c)[0]
        m = len(idx)
        if m == 0:
            continue
        u = xs.expand(m, 28, 28)
        v = ys.expand(m, 28, 28)
        mask, detail = _garment(c, u, v, rng, m, e)
        base = _P(rng, m, 0.55, 1.0)
        # fabric texture: low-frequency shading plus fine weave noise
        fy = _P(rng, m, 2.0, 6.0)
        ph = _P(rng, m, 0.0, 6.28)
        shade = 1 - _P(rng, m, 0.0, 0.3) * (0.5 + 0.5 * torch.sin(fy * v + ph))
        weave = torch.from_numpy(rng.normal(0, 0.07, (m, 28, 28)).astype(np.float32))
        img = mask * base * shade * (1 - detail.clamp(0, 1)) * (1 + weave)
        out[idx] = img.clamp(0, 1)
    # pose jitter: small rotation, scale and shift
    theta = _theta(rng, n, angle_deg=6.0, scale=(0.9, 1.08), aspect=(0.92, 1.08),
                   shear=0.06, shift=1.5 / 14.0, base=1.0)
    out = _warp(out.unsqueeze(1), theta, (28, 28), mode="bilinear")[:, 0]
    out[out < 0.02] = 0.0
    return _to_uint8(out)


# ----------------------------------------------------------------------------- CIFAR-10

# per-class colour palettes (RGB in 0..1): backgrounds (top, bottom) and foregrounds
_SKY = [((0.45, 0.65, 0.9), (0.75, 0.85, 0.95)), ((0.6, 0.75, 0.9), (0.9, 0.92, 0.95))]
_ROAD = [((0.55, 0.55, 0.58), (0.35, 0.35, 0.37)), ((0.65, 0.6, 0.55), (0.4, 0.38, 0.36))]
_INDOOR = [((0.75, 0.65, 0.5), (0.5, 0.4, 0.3)), ((0.8, 0.78, 0.72), (0.55, 0.5, 0.45))]
_GREEN = [((0.35, 0.55, 0.25), (0.25, 0.4, 0.15)), ((0.5, 0.6, 0.3), (0.35, 0.3, 0.2))]
_FIELD = [((0.55, 0.7, 0.9), (0.35, 0.55, 0.2)), ((0.7, 0.8, 0.9), (0.5, 0.6, 0.3))]
_WATER = [((0.6, 0.75, 0.9), (0.15, 0.3, 0.55)), ((0.75, 0.8, 0.85), (0.2, 0.35, 0.45))]

_CIFAR_BG = [_SKY, _ROAD, _SKY + _GREEN[:1], _INDOOR, _GREEN, _INDOOR + _GREEN[1:], _GREEN, _FIELD, _WATER, _ROAD]
_CIFAR_FG = [
    [(0.85, 0.85, 0.88), (0.6, 0.62, 0.66), (0.95, 0.95, 0.95)],  # airplane
    [(0.8, 0.1, 0.1), (0.1, 0.2, 0.7), (0.9, 0.8, 0.1), (0.1, 0.1, 0.1), (0.9, 0.9, 0.9)],  # automobile
    [(0.55, 0.35, 0.2), (0.8, 0.2, 0.15), (0.2, 0.35, 0.8), (0.9, 0.8, 0.2)],  # bird
    [(0.85, 0.55, 0.25), (0.5, 0.5, 0.5), (0.15, 0.15, 0.15), (0.9, 0.88, 0.85)],  # cat
    [(0.6, 0.42, 0.25), (0.7, 0.55, 0.35)],  # deer
    [(0.55, 0.35, 0.2), (0.9, 0.88, 0.8), (0.2, 0.15, 0.1), (0.75, 0.6, 0.4)],  # dog
    [(0.3, 0.6, 0.2), (0.5, 0.55, 0.2), (0.45, 0.35, 0.2)],  # frog
    [(0.45, 0.28, 0.15), (0.15, 0.1, 0.08), (0.85, 0.85, 0.82)],  # horse
    [(0.9, 0.9, 0.9), (0.45, 0.45, 0.5), (0.7, 0.15, 0.1)],  # ship
    [(0.8, 0.1, 0.1), (0.9, 0.9, 0.9), (0.9, 0.75, 0.1), (0.15, 0.3, 0.7)],  # truck
]


def _scene_mask(c, u, v, rng, m, e):
    """Foreground mask (and a dark-detail mask) of CIFAR-like class ``c`` in canonical coords."""
    P = lambda lo, hi: _P(rng, m, lo, hi)  # noqa: E731
    z = torch.zeros_like(u)
    if c == 0:  # airplane: fuselage, swept wings, tail fin
        fus = _ellipse(u, v, z, z, 0.85 + z, P(0.1, 0.15), e)
        sweep = P(0.3, 0.6)
        wing = _trap(v.abs() * 0 + u + sweep * v.abs(), v.abs(), 0.05 + z, 0.0 + z, P(0.55, 0.8), P(0.14, 0.2), P(0.06, 0.1), e)
        tail = _trap(u + 0.3 * (v + 0.1), -v, -0.72 + z, 0.0 + z, P(0.3, 0.45), 0.1 + z, 0.05 + z, e)
        return _union(fus, wing, tail), z
    if c in (1, 9):  # automobile / truck with wheels
        if c == 1:
            body = _box(u, v, -0.8 + z, 0.8 + z, P(-0.05, 0.05), 0.35 + z, e)
            cabin = _trap(u, v, P(-0.1, 0.1), P(-0.45, -0.35), 0.0 + z, P(0.25, 0.35), P(0.45, 0.55), e)
            shape = _union(body, cabin)
            window = 0.6 * _trap(u, v, z, -0.3 + z, -0.05 + z, 0.2 + z, 0.35 + z, e) * cabin
            wx = 0.5
        else:
            cargo = _box(u, v, -0.9 + z, P(0.15, 0.3), P(-0.65, -0.45), 0.35 + z, e)
            cab = _box(u, v, P(0.2, 0.3), 0.88 + z, P(-0.3, -0.15), 0.35 + z, e)
            shape = _union(cargo, cab)
            window = 0.6 * _box(u, v, 0.45 + z, 0.8 + z, -0.2 + z, 0.0 + z, e) * cab
            wx = 0.6
        r = P(0.14, 0.2)
        wheels = _union(_ellipse(u, v, -wx + z, 0.4 + z, r, r, e), _ellipse(u, v, wx + z, 0.4 + z, r, r, e))
        return _union(shape, wheels), _union(window, 0.85 * wheels)
    if c == 2:  # bird: small body, head, beak, tail
        body = _ellipse(u, v, z, z, P(0.4, 0.5), P(0.22, 0.3), e)
        head = _ellipse(u, v, 0.42 + z, -0.25 + z, 0.18 + z, 0.18 + z, e)
        beak = _trap(-(v + 0.25), u, z, 0.55 + z, 0.8 + z, 0.07 + z, 0.0 + z, e)
        tail = _trap(v, -u, z, 0.35 + z, 0.8 + z, 0.08 + z, P(0.15, 0.25), e)
        return _union(body, head, beak, tail), 0.8 * _ellipse(u, v, 0.47 + z, -0.3 + z, 0.04 + z, 0.04 + z, e)
    if c == 3:  # cat: round head with pointed ears and eyes
        head = _ellipse(u, v, z, 0.1 + z, P(0.45, 0.55), P(0.4, 0.5), e)
        ear_l = _trap(u, v, -0.3 + z, -0.75 + z, -0.2 + z, 0.02 + z, 0.2 + z, e)
        ear_r = _trap(u, v, 0.3 + z, -0.75 + z, -0.2 + z, 0.02 + z, 0.2 + z, e)
        eyes = _union(_ellipse(u, v, -0.18 + z, 0.0 + z, 0.07 + z, 0.09 + z, e),
                      _ellipse(u, v, 0.18 + z, 0.0 + z, 0.07 + z, 0.09 + z, e))
        return _union(head, ear_l, ear_r), 0.8 * eyes
    if c in (4, 7):  # deer / horse: body, legs, neck, head
        body = _ellipse(u, v, z, z, P(0.5, 0.6), P(0.22, 0.28), e)
        leg_len = P(0.5, 0.65) if c == 4 else P(0.45, 0.55)
        lw = 0.05 if c == 4 else 0.08
        legs = [_box(u, v, x - lw + z, x + lw + z, z, leg_len, e) for x in (-0.42, -0.3, 0.3, 0.42)]
        neck = _box(u - 0.5 * (v + 0.1), v, 0.35 + z, 0.55 + z, -0.55 + z, 0.0 + z, e)
        head = _ellipse(u, v, 0.72 + z, -0.5 + z, 0.2 + z, 0.12 + z, e)
        parts = [body, neck, head] + legs
        if c == 4:  # antlers
            parts += [_box(u - 0.4 * (v + 0.6), v, 0.62 + z, 0.66 + z, -0.95 + z, -0.6 + z, e),
                      _box(u + 0.4 * (v + 0.6), v, 0.78 + z, 0.82 + z, -0.95 + z, -0.6 + z, e)]
            return _union(*parts), 0.3 * _ellipse(u, v, z, 0.1 + z, 0.35 + z, 0.1 + z, e)
        mane = 0.5 * _box(u - 0.5 * (v + 0.1), v, 0.35 + z, 0.42 + z, -0.55 + z, 0.0 + z, e)
        return _union(*parts), mane
    if c == 5:  # dog: long head with floppy ears and a dark nose
        head = _ellipse(u, v, z, z, P(0.35, 0.42), P(0.45, 0.55), e)
        ears = _union(_ellipse(u, v, -0.42 + z, 0.1 + z, 0.14 + z, 0.35 + z, e),
                      _ellipse(u, v, 0.42 + z, 0.1 + z, 0.14 + z, 0.35 + z, e))
        snout = _ellipse(u, v, z, 0.35 + z, 0.2 + z, 0.15 + z, e)
        nose = _ellipse(u, v, z, 0.3 + z, 0.08 + z, 0.06 + z, e)
        return _union(head, ears, snout), _union(0.5 * ears, 0.9 * nose)
    if c == 6:  # frog: wide flat body, bulging eyes, spots
        body = _ellipse(u, v, z, 0.25 + z, P(0.65, 0.8), P(0.3, 0.4), e)
        eyes = _union(_ellipse(u, v, -0.3 + z, -0.1 + z, 0.15 + z, 0.15 + z, e),
                      _ellipse(u, v, 0.3 + z, -0.1 + z, 0.15 + z, 0.15 + z, e))
        spots = 0.5 * ((torch.sin(9 * u + P(0, 6.28)) * torch.sin(9 * v + P(0, 6.28))) > 0.5).float()
        return _union(body, eyes), _union(spots * body, 0.9 * _union(
            _ellipse(u, v, -0.3 + z, -0.12 + z, 0.06 + z, 0.06 + z, e),
            _ellipse(u, v, 0.3 + z, -0.12 + z, 0.06 + z, 0.06 + z, e)))
    if c == 8:  # ship: hull, cabin, mast
        hull = _trap(u, v, z, 0.05 + z, P(0.3, 0.4), P(0.85, 0.95), P(0.6, 0.75), e)
        cabin = _box(u, v, P(-0.4, -0.2), P(0.1, 0.3), P(-0.3, -0.2), 0.06 + z, e)
        mast = _box(u, v, -0.05 + z, 0.02 + z, P(-0.75, -0.55), 0.0 + z, e)
        windows = 0.5 * _box(u, v, -0.5 + z, 0.5 + z, -0.15 + z, -0.08 + z, e) * (torch.sin(u * 30) > 0).float() * cabin
        return _union(hull, cabin, mast), windows
    raise ValueError(c)


def _lowfreq(rng, m, size, cells):
    g = torch.from_numpy(rng.normal(0, 1, (m, 3, cells, cells)).astype(np.float32))
    return F.interpolate(g, size=(size, size), mode="bicubic", align_corners=False)


def cifar_like(targets, rng, num_classes=10):
    """32x32 RGB scenes.  For ``num_classes == 100`` class k combines shape ``k % 10``,
    background palette of class ``k // 10`` and foreground palette of ``(3 * k) % 10``."""
    n = len(targets)
    S = 32
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, S), torch.linspace(-1, 1, S), indexing="ij")
    out = torch.zeros(n, 3, S, S)
    e = 0.08
    for k in range(num_classes):
        idx = np.nonzero(targets == k)[0]
        m = len(idx)
        if m == 0:
            continue
        shape_c, bg_c, fg_c = (k, k, k) if num_classes == 10 else (k % 10, k // 10, (3 * k) % 10)
        # background: vertical gradient between two palette colours + low-frequency clutter
        pal = _CIFAR_BG[bg_c]
        choice = rng.integers(0, len(pal), m)
        top = torch.tensor(np.array([pal[i][0] for i in choice]), dtype=torch.float32)
        bot = torch.tensor(np.array([pal[i][1] for i in choice]), dtype=torch.float32)
        jitter = torch.from_numpy(rng.normal(0, 0.06, (m, 3)).astype(np.float32))
        top, bot = top + jitter, bot + jitter
        horizon = _P(rng, m, -0.3, 0.5)
        t = ((ys.expand(m, S, S) - horizon) * _P(rng, m, 1.5, 6.0)).sigmoid().unsqueeze(1)
        bg = top[:, :, None, None] * (1 - t) + bot[:, :, None, None] * t
        clutter = _lowfreq(rng, m, S, 4)
        bg = bg + 0.05 * clutter + 0.04 * clutter.mean(1, keepdim=True)
        # foreground: per-sample pose in canonical coordinates
        a = torch.from_numpy(rng.uniform(-0.3, 0.3, (m, 1, 1)).astype(np.float32))
        s = _P(rng, m, 0.65, 0.95)
        cx, cy = _P(rng, m, -0.2, 0.2), _P(rng, m, -0.15, 0.15)
        flip = torch.from_numpy(np.where(rng.random((m, 1, 1)) < 0.5, -1.0, 1.0).astype(np.float32))
        dx, dy = xs - cx, ys - cy
        u = (torch.cos(a) * dx + torch.sin(a) * dy) / s * flip
        v = (-torch.sin(a) * dx + torch.cos(a) * dy) / s
        mask, detail = _scene_mask(shape_c, u, v, rng, m, e)
        fpal = _CIFAR_FG[fg_c]
        fcol = torch.tensor(np.array([fpal[i] for i in rng.integers(0, len(fpal), m)]), dtype=torch.float32)
        fcol = fcol + torch.from_numpy(rng.normal(0, 0.06, (m, 3)).astype(np.float32))
        shade = 1 - 0.25 * ((v + 1) / 2).clamp(0, 1) * _P(rng, m, 0.0, 1.0)
        fg = fcol[:, :, None, None] * shade.unsqueeze(1) * (1 - 0.75 * detail.clamp(0, 1).unsqueeze(1))
        fg = fg + 0.05 * _lowfreq(rng, m, S, 8)
        mk = mask.unsqueeze(1)
        img = bg * (1 - mk) + fg * mk
        img = img * _P(rng, m, 0.75, 1.15).unsqueeze(1)  # global brightness
        img = img + torch.from_numpy(rng.normal(0, 0.035, (m, 3, S, S)).astype(np.float32))
        out[idx] = img
    return _to_uint8(out.permute(0, 2, 3, 1).contiguous())
