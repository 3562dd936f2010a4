"""Loops that hand ``optimizer.step`` a closure, each shown on a small program of our own.

LBFGS evaluates the closure many times per ``step`` call and updates the parameters between
evaluations, so every evaluation is an iteration of the trace: a program of three LBFGS calls
made dozens of updates and must not read as cut short. The same loop under an optimizer that
evaluates the closure once (SGD, Adam) makes one update per outer step, which is an optimizer
fault of the loop, not too few epochs."""
from __future__ import annotations

from faultlens.api import run

CLOSURE_LOOP = """
import torch
import torch.nn as nn
torch.manual_seed(0)
x = torch.linspace(-3, 3, 200).unsqueeze(1)
y = torch.sin(x)
model = nn.Sequential(nn.Linear(1, 20), nn.Tanh(), nn.Linear(20, 1))
with torch.no_grad():
    model[2].weight.mul_(0.01)
    model[2].bias.fill_(0.5)
criterion = nn.MSELoss()
optimizer = OPTIMIZER
for i in range(STEPS):
    def closure():
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        return loss
    optimizer.step(closure)
    with torch.no_grad():
        print('loss', criterion(model(x), y).item())
"""

LBFGS = "torch.optim.LBFGS(model.parameters(), lr=LR, max_iter=20)"


def _run(tmp_path, name, optimizer, steps):
    p = tmp_path / f"{name}.py"
    p.write_text(CLOSURE_LOOP.replace("OPTIMIZER", optimizer).replace("STEPS", str(steps)))
    return run(str(p), in_process=True, out_dir=str(tmp_path / f"run_{name}"), max_seconds=60, seed=0)


def test_each_lbfgs_evaluation_is_an_iteration(tmp_path):
    rep = _run(tmp_path, "lbfgs", LBFGS.replace("LR", "1"), 3)
    assert rep.steps > 3 * 5  # three calls, many evaluations each
    names = {s["symptom"] for s in rep.symptoms}
    assert "too_few_steps" not in names
    assert "loss_spike" not in names  # LBFGS's trial points are no overshoot
    assert rep.verdict == "healthy"


def test_a_closure_evaluated_once_keeps_one_iteration_per_step(tmp_path):
    rep = _run(tmp_path, "sgd_many", "torch.optim.SGD(model.parameters(), lr=0.1)", 40)
    assert rep.steps == 40


def test_lbfgs_loop_under_a_single_evaluation_optimizer_is_an_optimizer_fault(tmp_path):
    rep = _run(tmp_path, "sgd_few", "torch.optim.SGD(model.parameters(), lr=0.01)", 3)
    assert rep.verdict == "faulty"
    assert rep.faults[0].type == "optimizer"
    assert "evaluates it once" in rep.faults[0].summary


def test_lbfgs_lr_far_below_its_default_is_the_learning_rate(tmp_path):
    # 2e-4 is above the absolute floor of a plain step's lr (1e-4) but a 5000th of LBFGS's default
    rep = _run(tmp_path, "lbfgs_low", LBFGS.replace("LR", "2e-4"), 5)
    assert rep.verdict == "faulty"
    assert rep.faults[0].type == "learning_rate"
    # the affine head's outputs stayed positive because training barely moved them: no bound
    assert "output_range_mismatch" not in {s["symptom"] for s in rep.symptoms}
