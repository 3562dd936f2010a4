"""The learning rate of a hand-written update is a magnitude: ``p.data.add_(-0.1 * p.grad)``
and ``p.add_(p.grad, alpha=-lr)`` both step with lr 0.1, never -0.1."""
from __future__ import annotations

import pytest

from faultlens.analyzer import build_graph

from .analyzer_helpers import one

UPDATES = [
    "param.data.add_(-0.1 * param.grad)",
    "param.data.add_(param.grad * -0.1)",
    "param.data.add_(param.grad, alpha=-0.1)",
    "param.data.add_(-(0.1 * param.grad))",
    "param.data.sub_(0.1 * param.grad)",
]


def _program(tmp_path, update: str):
    src = tmp_path / "train.py"
    src.write_text(
        "import torch\n"
        "fc = torch.nn.Linear(4, 1)\n"
        "for i in range(10):\n"
        "    fc.zero_grad()\n"
        "    loss = (fc(torch.randn(8, 4)) ** 2).mean()\n"
        "    loss.backward()\n"
        "    for param in fc.parameters():\n"
        f"        {update}\n"
    )
    return src


@pytest.mark.parametrize("update", UPDATES)
def test_manual_update_lr_is_unsigned(tmp_path, update):
    src = _program(tmp_path, update)
    g = build_graph(src)
    opt = one(g, "optimizer")
    assert opt["optimizer_type"] == "manual"
    assert opt["args"]["lr"] == pytest.approx(0.1)
    assert opt["lr"] == pytest.approx(0.1)


@pytest.mark.parametrize("update, ascent", [
    ("param.data.add_(-0.1 * param.grad)", False),
    ("param.data.add_(0.1 * param.grad)", True),
    ("param.data.add_(param.grad, alpha=-0.1)", False),
    ("param.data.sub_(0.1 * param.grad)", False),
    ("param.data += 0.1 * param.grad", True),
    ("param.data -= -0.1 * param.grad", True),
])
def test_gradient_ascent_is_marked(tmp_path, update, ascent):
    src = _program(tmp_path, update)
    opt = one(build_graph(src), "optimizer")
    assert bool(opt.get("ascent")) is ascent
