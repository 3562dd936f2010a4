"""Classes of real programs that the diagnosis must read correctly, each shown on a small
program of our own: updates written by hand on raw tensors (any names), and sum-reduced
regression losses."""
from __future__ import annotations

import pytest

from faultlens.api import run

RAW_TENSORS = """
import math
import torch
torch.manual_seed(0)
x = torch.linspace(-math.pi, math.pi, 2000)
y = torch.sin(x)
w0 = torch.randn((), requires_grad=True)
w1 = torch.randn((), requires_grad=True)
w3 = torch.randn((), requires_grad=True)
step_size = 2e-6
for t in range(1500):
    y_pred = w0 + w1 * x + w3 * x ** 3
    loss = (y_pred - y).pow(2).sum()
    loss.backward()
    with torch.no_grad():
        w0 -= step_size * w0.grad
        w1 -= step_size * w1.grad
        w3 -= step_size * w3.grad
        w0.grad = None
        w1.grad = None
        w3.grad = None
"""

SUM_MSE = """
import math
import torch
torch.manual_seed(0)
x = torch.linspace(-math.pi, math.pi, 1000).unsqueeze(1)
y = torch.sin(x)
model = torch.nn.Sequential(torch.nn.Linear(1, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
criterion = torch.nn.MSELoss(reduction='sum')
optimizer = torch.optim.SGD(model.parameters(), lr=LR)
for t in range(400):
    loss = criterion(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
"""


def _run(tmp_path, name, src):
    p = tmp_path / f"{name}.py"
    p.write_text(src)
    return run(str(p), in_process=True, out_dir=str(tmp_path / f"run_{name}"), max_seconds=60, seed=0)


def test_hand_written_update_on_raw_tensors_is_an_update(tmp_path):
    rep = _run(tmp_path, "raw", RAW_TENSORS)
    assert "missing_update" not in {s["symptom"] for s in rep.symptoms}
    assert rep.verdict == "healthy"


def test_sum_reduced_mse_is_judged_per_element(tmp_path):
    rep = _run(tmp_path, "sum_ok", SUM_MSE.replace("LR", "3e-5"))
    assert "no_better_than_baseline" not in {s["symptom"] for s in rep.symptoms}
    assert rep.verdict == "healthy"


def test_sum_reduced_mse_that_does_not_learn_is_still_caught(tmp_path):
    rep = _run(tmp_path, "sum_stuck", SUM_MSE.replace("LR", "1e-9"))
    assert "no_better_than_baseline" in {s["symptom"] for s in rep.symptoms}
    assert rep.verdict == "faulty"
