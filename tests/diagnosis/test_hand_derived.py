"""Training without autograd: gradients derived by hand and applied with ``w -= lr * grad_w``
(the numpy-style first steps of many tutorials). The graph gets a ``hand_derived`` loss and a
manual optimizer, the run records the loss where the program assigns it, and the diagnosis
judges the run like any other. Our own small programs."""
from __future__ import annotations

import pytest

from faultlens.analyzer import build_graph
from faultlens.api import run

HAND_NET = """
import torch
torch.manual_seed(0)
N, D_in, H, D_out = 64, 200, 64, 3
x = torch.randn(N, D_in)
y = torch.randn(N, D_out)
w1 = torch.randn(D_in, H)
w2 = torch.randn(H, D_out)
lr = LR
for it in range(ITERS):
    h = x.mm(w1)
    h_relu = h.clamp(min=0)
    y_pred = h_relu.mm(w2)
    loss = (y_pred - y).pow(2).sum().item()
    grad_y_pred = 2.0 * (y_pred - y)
    grad_w2 = h_relu.t().mm(grad_y_pred)
    grad_h = grad_y_pred.mm(w2.t())
    grad_h[h < 0] = 0
    grad_w1 = x.t().mm(grad_h)
    w1 -= lr * grad_w1
    w2 SIGN= lr * grad_w2
print(loss)
"""

HAND_POLY = """
import math
import torch
x = torch.linspace(-math.pi, math.pi, 1000)
y = torch.sin(x)
a, b, c = torch.zeros(()), torch.zeros(()), torch.zeros(())
step = 1e-5
for t in range(800):
    y_hat = a + b * x + c * x ** 3
    cost = (y_hat - y).pow(2).sum()
    g = 2.0 * (y_hat - y)
    a -= step * g.sum()
    b -= step * (g * x).sum()
    c -= step * (g * x ** 3).sum()
"""


def _src(lr="1e-6", iters=400, sign="-"):
    return HAND_NET.replace("LR", lr).replace("ITERS", str(iters)).replace("SIGN", sign)


def _graph(tmp_path, src, name="hand.py"):
    p = tmp_path / name
    p.write_text(src)
    return build_graph(str(p))


def _run(tmp_path, name, src):
    p = tmp_path / f"{name}.py"
    p.write_text(src)
    return run(str(p), in_process=True, out_dir=str(tmp_path / f"run_{name}"), max_seconds=60, seed=0)


def _line(src, text):
    return next(i for i, ln in enumerate(src.splitlines(), 1) if text in ln)


def test_the_graph_has_a_hand_derived_loss_and_a_manual_optimizer(tmp_path):
    g = _graph(tmp_path, _src())
    (loss,) = g.nodes("loss")
    assert loss.get("hand_derived") and loss.get("var") == "loss"
    assert (loss.get("args") or {}).get("reduction") == "sum"
    (opt,) = g.nodes("optimizer")
    assert opt.get("manual") and opt.get("params") == ["w1", "w2"] and opt.get("lr") == pytest.approx(1e-6)
    (loop,) = g.nodes("loop")
    assert loop.get("role") == "epoch"
    # the step size is the factor with a numeric value, also where neither name says "grad"
    g = _graph(tmp_path, HAND_POLY, "poly.py")
    (opt,) = g.nodes("optimizer")
    assert opt.get("params") == ["a", "b", "c"] and opt.get("lr") == pytest.approx(1e-5)
    assert g.nodes("loss")[0].get("var") == "cost"


def test_programs_using_autograd_or_plain_counters_get_no_hand_derived_nodes(tmp_path):
    # a backward anywhere: the program's own loss and update nodes describe it
    autograd = _src().replace("loss = (y_pred - y).pow(2).sum().item()", "loss = (y_pred - y).pow(2).sum()\n"
                              "    w1.requires_grad_(True)\n    (w1.sum() * 0).backward()")
    assert not any(n.get("hand_derived") for n in _graph(tmp_path, autograd).nodes("loss"))
    # running sums and decays beside a loss are no parameter update
    counters = """
import torch
total = 0.0
eps = 1.0
for i in range(10):
    loss = torch.rand(()).item()
    total += loss
    eps -= 0.05 * eps
"""
    g = _graph(tmp_path, counters, "counters.py")
    assert not g.nodes("optimizer") and not g.nodes("loss")


def test_a_clean_hand_derived_run_is_recorded_and_healthy(tmp_path):
    rep = _run(tmp_path, "clean", _src())
    assert rep.steps == 400
    assert rep.verdict == "healthy", [s["message"] for s in rep.symptoms]


@pytest.mark.parametrize("name,kw,ftype,at", [
    ("lr_high", {"lr": "1e-3"}, "learning_rate", "lr = "),
    ("few", {"iters": 12}, "epochs", "for it in range("),
    ("ascent", {"sign": "+"}, "training_loop", "w2 += lr"),
])
def test_faults_of_a_hand_derived_loop(tmp_path, name, kw, ftype, at):
    src = _src(**kw)
    rep = _run(tmp_path, name, src)
    assert rep.verdict == "faulty"
    top = rep.faults[0]
    assert top.type == ftype, [(f.type, f.summary) for f in rep.faults]
    assert _line(src, at) in [loc.line for loc in top.locations]
