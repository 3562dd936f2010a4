"""The curvature probe against ``torch.autograd``: its Hessian-vector products give the
directional sharpness, the largest eigenvalue (plain and Adam-preconditioned) and the
Hutchinson trace terms of the Hessian that ``torch.autograd.functional.hessian`` computes.

The probe runs outside any run, on a stub of the narrow probe context: what a probe may see is
all it needs."""
from __future__ import annotations

import contextlib

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from faultlens.instrumenter.probes.curvature import CurvatureProbe
from faultlens.instrumenter.watchers import LastBatch, LossWatch, ModelWatch, OptWatch


class _Ctx:
    """The part of ProbeContext the curvature probe uses; ``training_seconds`` is so large
    that every evaluation fits its time budget."""

    def __init__(self, batch: LastBatch):
        self.last_batch = batch
        self.step = 0
        self.rows: list[tuple[int, str, str, float]] = []

    def put(self, metric, node, value):
        self.rows.append((self.step, metric, node, value))

    def training_seconds(self):
        return 1e6

    def unrecorded(self):
        return contextlib.nullcontext()

    def values(self, metric):
        return [v for _, m, _, v in self.rows if m == metric]


def _setup(opt_factory):
    torch.manual_seed(0)
    x = torch.randn(64, 5, dtype=torch.float64)
    y = torch.randint(0, 3, (64,))
    model = nn.Linear(5, 3).double()
    opt = opt_factory(model.parameters())
    for _ in range(3):  # a few real updates: away from the initial point, optimizer state filled
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    opt.zero_grad()
    batch = LastBatch(ModelWatch(model, "model", {}, {}), ((x,), {}),
                      LossWatch(nn.CrossEntropyLoss(), "loss", "CrossEntropyLoss"), (y,), {})
    return model, opt, x, y, batch


def _exact(model, x, y):
    """Gradient and Hessian of the loss over all parameters (flattened in parameter order)."""
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss(v):
        parts, i = {}, 0
        for n, s in zip(names, shapes):
            k = s.numel()
            parts[n] = v[i:i + k].reshape(s)
            i += k
        return F.cross_entropy(torch.func.functional_call(model, parts, (x,)), y)

    v = flat.clone().requires_grad_(True)
    g = torch.autograd.grad(loss(v), v)[0]
    H = torch.autograd.functional.hessian(loss, flat)
    return g, H


def _evaluate(probe, ctx, ow, evaluations):
    """Run ``evaluations`` curvature evaluations at the same parameters (steps 400, 410, ...:
    late enough that the first one's expected cost, ~16 steps, fits the 5% budget), recording
    the Rademacher vectors of the trace estimate."""
    zs = []
    rand = probe._rand

    def spy(p, rademacher=False):
        r = rand(p, rademacher)
        if rademacher:
            zs.append(r)
        return r

    probe._rand = spy
    for k in range(evaluations):
        ctx.step = 400 + CurvatureProbe.min_gap * k
        probe.on_opt_pre(ow)
    n = len(list(ow.opt.param_groups[0]["params"]))
    return [torch.cat([z.reshape(-1) for z in zs[i:i + n]]) for i in range(0, len(zs), n)]


def test_sharpness_eigenvalue_and_trace_match_the_autograd_hessian():
    lr, mom = 0.1, 0.9
    model, opt, x, y, batch = _setup(lambda ps: torch.optim.SGD(ps, lr=lr, momentum=mom))
    ctx = _Ctx(batch)
    probe = CurvatureProbe(ctx, True)
    zs = _evaluate(probe, ctx, OptWatch(opt, "opt"), evaluations=6)
    g, H = _exact(model, x, y)
    assert probe.evals == 6 and len(zs) == 6

    # directional sharpness g^T H g / ||g||^2: one HVP, exact
    for v in ctx.values("grad_curvature"):
        assert v == pytest.approx(float(g @ H @ g / (g @ g)), rel=1e-9)
    # the power iteration, warm-started across evaluations, reaches the top eigenvalue
    lam = float(torch.linalg.eigvalsh(H).max())
    assert ctx.values("lambda_max")[-1] == pytest.approx(lam, rel=1e-4)
    # Hutchinson: the running mean of z^T H z over the last 5 evaluations
    quad = [float(z @ H @ z) for z in zs]
    for k, v in enumerate(ctx.values("hessian_trace")):
        last = quad[max(0, k - 4):k + 1]
        assert v == pytest.approx(sum(last) / len(last), rel=1e-9)
    # heavy-ball SGD: lambda_max * lr against 2 (1 + momentum)
    assert ctx.values("lambda_max_lr")[-1] == pytest.approx(ctx.values("lambda_max")[-1] * lr, rel=1e-12)
    assert ctx.values("stability_limit") == [pytest.approx(2 * (1 + mom))] * 6
    assert not ctx.values("lambda_max_precond")


def test_adam_preconditioned_sharpness_matches_the_autograd_hessian():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    model, opt, x, y, batch = _setup(lambda ps: torch.optim.Adam(ps, lr=lr, betas=(b1, b2), eps=eps))
    ctx = _Ctx(batch)
    probe = CurvatureProbe(ctx, True)
    _evaluate(probe, ctx, OptWatch(opt, "opt"), evaluations=6)
    _, H = _exact(model, x, y)
    # P^-1/2 H P^-1/2 with P = sqrt(v_hat) + eps, v_hat = exp_avg_sq / (1 - beta2^t)
    d = []
    for p in model.parameters():
        st = opt.state[p]
        t = float(st["step"])
        d.append(((st["exp_avg_sq"] / (1 - b2 ** t)).sqrt() + eps).rsqrt().reshape(-1))
    D = torch.diag(torch.cat(d))
    plam = float(torch.linalg.eigvalsh(D @ H @ D).max())
    assert ctx.values("lambda_max_precond")[-1] == pytest.approx(plam, rel=1e-4)
    assert ctx.values("lambda_max_lr")[-1] == pytest.approx(ctx.values("lambda_max_precond")[-1] * lr, rel=1e-12)
    assert ctx.values("stability_limit") == [pytest.approx((2 + 2 * b1) / (1 - b1))] * 6


def test_a_share_in_the_setting_replaces_the_budget_and_the_first_step_waits():
    _, opt, _, _, batch = _setup(lambda ps: torch.optim.SGD(ps, lr=0.1))
    ctx = _Ctx(batch)
    assert CurvatureProbe(ctx, True).share == CurvatureProbe.budget
    probe = CurvatureProbe(ctx, 0.3)
    assert probe.share == 0.3
    ctx.step = CurvatureProbe.min_step - 1
    probe.on_opt_pre(OptWatch(opt, "opt"))
    assert probe.evals == 0 and not ctx.rows
