"""Generate a synthetic, realistic Python repository for the lint speed benchmark.

The mix imitates an ML project: most files are ordinary Python (utilities, data handling,
configuration, CLI glue, plain classes) and import no deep-learning framework; a portion are
PyTorch files of varied size (model modules, training scripts with argparse, evaluation
helpers, some with typical faults). Training scripts import their local model module, so the
graph builder follows imports. Everything is generated from templates with a seeded RNG into
a directory the caller chooses (a temporary directory in ``lint_speed.py``); nothing is
committed.

    python benchmarks/gen_repo.py OUT_DIR [--lines 50000] [--dl-fraction 0.25] [--seed 0]
"""
from __future__ import annotations

import argparse
import os
import random
import textwrap

# ----------------------------------------------------------------------------- plain python
_PLAIN_FUNCS = [
    '''
    def {name}(values, threshold={num}):
        """Return the items of ``values`` above ``threshold``, sorted."""
        out = []
        for v in values:
            if v is None:
                continue
            if v > threshold:
                out.append(v)
        out.sort()
        return out
    ''',
    '''
    def {name}(path, encoding="utf-8"):
        """Read ``path`` and return its non-empty, stripped lines."""
        lines = []
        with open(path, encoding=encoding) as fh:
            for raw in fh:
                raw = raw.strip()
                if raw and not raw.startswith("#"):
                    lines.append(raw)
        return lines
    ''',
    '''
    def {name}(records, key="{word}"):
        """Group dictionaries by ``key``."""
        groups = {{}}
        for rec in records:
            groups.setdefault(rec.get(key), []).append(rec)
        return {{k: sorted(v, key=lambda r: str(r)) for k, v in groups.items()}}
    ''',
    '''
    def {name}(text, width={small}):
        """Wrap ``text`` into lines of at most ``width`` characters."""
        words, line, out = text.split(), "", []
        for w in words:
            if len(line) + len(w) + 1 > width and line:
                out.append(line)
                line = w
            else:
                line = f"{{line}} {{w}}".strip()
        if line:
            out.append(line)
        return out
    ''',
    '''
    def {name}(a, b, *, scale={num}):
        """Scaled element-wise distance between two equal-length sequences."""
        if len(a) != len(b):
            raise ValueError("length mismatch: %d != %d" % (len(a), len(b)))
        total = 0.0
        for x, y in zip(a, b):
            total += (x - y) ** 2
        return scale * total ** 0.5
    ''',
]

_PLAIN_CLASS = '''
class {cname}:
    """A small {word} registry with validation."""

    def __init__(self, name, limit={small}):
        self.name = name
        self.limit = limit
        self._items = {{}}

    def add(self, key, value):
        if len(self._items) >= self.limit:
            raise RuntimeError(f"{{self.name}} is full ({{self.limit}})")
        if key in self._items:
            raise KeyError(key)
        self._items[key] = value
        return value

    def get(self, key, default=None):
        return self._items.get(key, default)

    def items(self):
        return sorted(self._items.items())

    def __len__(self):
        return len(self._items)

    def __repr__(self):
        return f"{cname}({{self.name!r}}, {{len(self)}} items)"
'''

_PLAIN_HEAD = '''"""{word} helpers ({n})."""
from __future__ import annotations

import json
import os
import re
from collections import defaultdict

PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
DEFAULTS = {{"name": "{word}", "retries": {small}, "timeout": {num}}}
'''

# ----------------------------------------------------------------------------- torch models
_MODEL_FILE = '''"""Models for the {word} experiments."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class {cname}(nn.Module):
    """A {depth}-layer MLP with dropout."""

    def __init__(self, in_features={inp}, hidden={hidden}, num_classes={classes}, p={p}):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.drop = nn.Dropout(p)
        self.out = nn.Linear(hidden, num_classes)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = self.drop(F.relu(self.fc2(x)))
        return {tail}


class {cname}Conv(nn.Module):
    """A small CNN for {side}x{side} inputs."""

    def __init__(self, num_classes={classes}):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
        )
        self.head = nn.Linear(32 * {half} * {half}, num_classes)

    def forward(self, x):
        x = self.features(x)
        x = x.flatten(1)
        return self.head(x)


def init_weights(m):
    if isinstance(m, nn.Linear):
        nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
        nn.init.zeros_(m.bias)
'''

_TRAIN_HEAD = '''"""Train {cname} on synthetic data ({word})."""
import argparse
import math
import time

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

from {module} import {cname}, init_weights


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lr", type=float, default={lr})
    parser.add_argument("--epochs", type=int, default={epochs})
    parser.add_argument("--batch-size", type=int, default={bs})
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def make_data(n={n}, d={inp}, classes={classes}, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    w = torch.randn(d, classes, generator=g)
    y = (x @ w).argmax(1)
    return TensorDataset(x, y)


def evaluate(model, loader, criterion):
    model.eval()
    total, correct, loss_sum = 0, 0, 0.0
    with torch.no_grad():
        for xb, yb in loader:
            out = model(xb)
            loss_sum += criterion(out, yb).item() * len(yb)
            correct += (out.argmax(1) == yb).sum().item()
            total += len(yb)
    return loss_sum / total, correct / total
'''

_TRAIN_LOOP = '''

def train_{k}(args):
    torch.manual_seed(args.seed)
    data = make_data(seed=args.seed + {k})
    loader = DataLoader(data, batch_size=args.batch_size, shuffle=True)
    model = {cname}()
    model.apply(init_weights)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.{opt}(model.parameters(), lr=args.lr)
    history = []
    for epoch in range(args.epochs):
        model.train()
        start = time.time()
        running = 0.0
        for step, (xb, yb) in enumerate(loader):
{zero}            out = model(xb)
            loss = criterion(out, yb)
            loss.backward()
            optimizer.step()
            running += loss.item()
        val_loss, acc = evaluate(model, loader, criterion)
        history.append((epoch, running / max(1, step + 1), val_loss, acc, time.time() - start))
        if not math.isfinite(val_loss):
            break
    return model, history
'''

_TRAIN_MAIN = '''

def main(argv=None):
    args = parse_args(argv)
    results = []
    for fn in ({fns}):
        model, history = fn(args)
        results.append(history[-1] if history else None)
    print(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
'''


def _plain_file(rng: random.Random, target: int, n: int) -> str:
    parts = [_PLAIN_HEAD.format(word=rng.choice(WORDS), n=n, small=rng.randint(3, 40), num=rng.randint(1, 99))]
    i = 0
    while sum(p.count("\n") for p in parts) < target:
        if rng.random() < 0.25:
            parts.append(_PLAIN_CLASS.format(cname=f"{rng.choice(WORDS).title()}Registry{i}", word=rng.choice(WORDS),
                                             small=rng.randint(5, 500)))
        else:
            tpl = textwrap.dedent(rng.choice(_PLAIN_FUNCS))
            parts.append(tpl.format(name=f"{rng.choice(WORDS)}_{rng.choice(VERBS)}_{i}", num=rng.randint(1, 99),
                                    word=rng.choice(WORDS), small=rng.randint(20, 120)))
        i += 1
    return "\n".join(parts)


def _model_file(rng: random.Random, cname: str) -> str:
    side = rng.choice([8, 16, 28])
    tail = "self.out(x)" if rng.random() < 0.8 else "F.softmax(self.out(x), dim=1)"  # a fault now and then
    return _MODEL_FILE.format(word=rng.choice(WORDS), cname=cname, depth=3, inp=rng.choice([16, 32, 64]),
                              hidden=rng.choice([64, 128, 256]), classes=rng.choice([2, 3, 10]),
                              p=rng.choice([0.1, 0.2, 0.3]), tail=tail, side=side, half=side // 2)


def _train_file(rng: random.Random, module: str, cname: str, target: int) -> str:
    head = _TRAIN_HEAD.format(cname=cname, word=rng.choice(WORDS), module=module, lr=rng.choice([0.1, 0.01, 1e-3, 3e-4]),
                              epochs=rng.randint(3, 30), bs=rng.choice([16, 32, 64]), n=rng.choice([256, 512]),
                              inp=rng.choice([16, 32, 64]), classes=rng.choice([2, 3, 10]))
    parts, k = [head], 0
    while sum(p.count("\n") for p in parts) < target - 15:
        zero = "" if rng.random() < 0.1 else "            optimizer.zero_grad()\n"  # occasional fault
        parts.append(_TRAIN_LOOP.format(k=k, cname=cname, opt=rng.choice(["SGD", "Adam", "AdamW"]), zero=zero))
        k += 1
    parts.append(_TRAIN_MAIN.format(fns=", ".join(f"train_{i}" for i in range(k)) + ("," if k == 1 else "")))
    return "".join(parts)


WORDS = ["alpha", "beta", "gamma", "delta", "sensor", "ledger", "invoice", "route", "pixel", "token", "cache",
         "report", "signal", "vector", "config", "event", "record", "batch", "shard", "metric"]
VERBS = ["load", "parse", "merge", "filter", "score", "render", "split", "index", "encode", "check"]


def big_file(path: str, megabytes: float = 5.0, seed: int = 0) -> int:
    """Write one large PyTorch program of about ``megabytes`` MB: a model module, many
    ordinary functions and classes, and a training script at the end (what a generated or
    vendored file looks like). Returns its line count."""
    rng = random.Random(seed)
    target = int(megabytes * 1_000_000)
    cname = "BigNet"
    parts = [_model_file(rng, cname)]
    size = len(parts[0])
    i = 0
    while size < target - 4000:
        if rng.random() < 0.25:
            part = _PLAIN_CLASS.format(cname=f"{rng.choice(WORDS).title()}Registry{i}", word=rng.choice(WORDS),
                                       small=rng.randint(5, 500))
        else:
            tpl = textwrap.dedent(rng.choice(_PLAIN_FUNCS))
            part = tpl.format(name=f"{rng.choice(WORDS)}_{rng.choice(VERBS)}_{i}", num=rng.randint(1, 99),
                              word=rng.choice(WORDS), small=rng.randint(20, 120))
        parts.append(part)
        size += len(part) + 1
        i += 1
    train = _train_file(rng, "bench_models", cname, 90).replace(
        f"from bench_models import {cname}, init_weights\n", "")
    parts.append(train.split('"""', 2)[2])
    text = "\n".join(parts)
    with open(path, "w") as fh:
        fh.write(text)
    return text.count("\n")


def generate(out_dir: str, lines: int = 50_000, dl_fraction: float = 0.25, seed: int = 0) -> dict:
    """Write the repository; returns counts (files, lines, DL files, DL lines)."""
    rng = random.Random(seed)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "pyproject.toml"), "w") as fh:
        fh.write('[project]\nname = "synthetic-ml-repo"\nversion = "0.0.0"\n')
    stats = {"files": 0, "lines": 0, "dl_files": 0, "dl_lines": 0}

    def emit(rel: str, text: str, dl: bool) -> None:
        path = os.path.join(out_dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as fh:
            fh.write(text)
        n = text.count("\n")
        stats["files"] += 1
        stats["lines"] += n
        if dl:
            stats["dl_files"] += 1
            stats["dl_lines"] += n

    dl_budget = int(lines * dl_fraction)
    e = 0
    while stats["dl_lines"] < dl_budget:
        pkg = f"experiments/exp{e:03d}"
        cname = f"{rng.choice(WORDS).title()}Net"
        emit(f"{pkg}/models_{e}.py", _model_file(rng, cname), True)
        for t in range(rng.randint(1, 3)):
            size = rng.choice([90, 150, 300, 600, 1200])
            emit(f"{pkg}/train_{t}.py", _train_file(rng, f"models_{e}", cname, size), True)
        e += 1
    i = 0
    while stats["lines"] < lines:
        sub = f"src/pkg{i % 12}"
        size = rng.choice([40, 80, 120, 200, 300, 500, 800])
        emit(f"{sub}/mod_{i:04d}.py", _plain_file(rng, size, i), False)
        if i % 12 == 0:
            emit(f"{sub}/__init__.py", "", False)
        i += 1
    return stats


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--lines", type=int, default=50_000)
    ap.add_argument("--dl-fraction", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    print(generate(a.out_dir, a.lines, a.dl_fraction, a.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
