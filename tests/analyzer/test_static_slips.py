"""Static-analysis slips seen on real programs (issue 12, item 8), each on a small program."""
from __future__ import annotations

import pytest

from faultlens.analyzer import build_graph
from faultlens.localizer import _hp_definitions

from .analyzer_helpers import one

TRAIN_STEP = (
    "    loss = model(torch.randn(8, 4)).pow(2).mean()\n"
    "    opt.zero_grad()\n"
    "    loss.backward()\n"
    "    opt.step()\n"
)


@pytest.mark.parametrize("head, loop", [
    ("import itertools\n", "for batch_idx in itertools.count(1):\n"),
    ("from itertools import count\n", "for batch_idx in count():\n"),
    ("import itertools\n", "for i, _ in enumerate(itertools.repeat(None)):\n"),
    ("", "while True:\n"),
])
def test_endless_counter_is_a_batch_loop_not_the_epoch_loop(tmp_path, head, loop):
    p = tmp_path / "train.py"
    p.write_text(head + "import torch\n"
                 "model = torch.nn.Linear(4, 1)\n"
                 "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
                 + loop + TRAIN_STEP +
                 "    if loss.item() < 1e-3:\n"
                 "        break\n")
    g = build_graph(p)
    lp = one(g, "loop")
    assert lp["role"] == "step" and lp["unbounded"] is True
    assert not g.nodes("loop", role="epoch")


def test_bounded_single_loop_stays_the_epoch_loop(tmp_path):
    p = tmp_path / "train.py"
    p.write_text("import torch\nmodel = torch.nn.Linear(4, 1)\n"
                 "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
                 "for epoch in range(20):\n" + TRAIN_STEP)
    assert one(build_graph(p), "loop")["role"] == "epoch"


def test_endless_outer_loop_around_a_batch_loop_is_still_the_epoch_loop(tmp_path):
    p = tmp_path / "train.py"
    p.write_text("import torch\nmodel = torch.nn.Linear(4, 1)\n"
                 "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
                 "data = [torch.randn(8, 4) for _ in range(4)]\n"
                 "while True:\n"
                 "    for xb in data:\n"
                 "        loss = model(xb).pow(2).mean()\n"
                 "        opt.zero_grad()\n"
                 "        loss.backward()\n"
                 "        opt.step()\n"
                 "    if loss.item() < 1e-3:\n"
                 "        break\n")
    g = build_graph(p)
    assert [n["role"] for n in g.nodes("loop")] == ["epoch", "step"]


MANUAL = '''\
import argparse
import torch

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=20)
parser.add_argument("--epochs", type=int, default=3)
args = parser.parse_args()
model = torch.nn.Linear(4, 1)


def train():
    for i in range(10):
        model.zero_grad()
        loss = model(torch.randn(8, 4)).pow(2).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)


lr = args.lr
best = None
try:
    for epoch in range(1, args.epochs + 1):
        train()
        val = 1.0 / epoch
        if best is None or val < best:
            best = val
        else:
            lr /= 4.0
except KeyboardInterrupt:
    pass
'''

MANUAL_PARAM = '''\
import argparse
import torch


def train(model, lr):
    for i in range(10):
        model.zero_grad()
        loss = model(torch.randn(8, 4)).pow(2).mean()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=20)
    args = parser.parse_args()
    model = torch.nn.Linear(4, 1)
    lr = args.lr
    for epoch in range(3):
        train(model, lr)
        lr = lr * 0.5


if __name__ == "__main__":
    main()
'''


@pytest.mark.parametrize("src", [MANUAL, MANUAL_PARAM], ids=["global-decayed", "parameter-decayed"])
def test_manual_update_lr_is_linked_to_args_lr(tmp_path, src):
    p = tmp_path / "main.py"
    p.write_text(src)
    g = build_graph(p)
    opt = one(g, "optimizer")
    assert opt["optimizer_type"] == "manual"
    # the update starts with lr = args.lr (20) and the program lowers it later
    assert opt["lr"] == 20 and opt["args"]["lr"] == 20 and opt["lr_varies"] is True
    defs = _hp_definitions(g, opt.id, "lr")
    assert any(h.get("key") == "args.lr" and h["source"] == "argparse" for h in defs)
    assert any(h.get("key") == "lr" and h["source"] == "args_attr" for h in defs)
    # and it follows the run's command line
    opt = one(build_graph(p, argv=["--lr", "5"]), "optimizer")
    assert opt["lr"] == 5


def test_lr_set_twice_without_self_reference_stays_unresolved(tmp_path):
    p = tmp_path / "main.py"
    p.write_text(MANUAL.replace("lr /= 4.0", "lr = 0.5"))
    opt = one(build_graph(p), "optimizer")
    assert opt["lr"] is None and not opt.get("lr_varies")
