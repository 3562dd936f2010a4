"""The hand-written backward of the program's own ``torch.autograd.Function`` subclasses.

A custom Function's ``backward`` is code the user wrote and autograd trusts; an inverted mask
or a wrong derivative trains the model with wrong gradients while every statistic of the run
looks like an optimisation problem. ``torch.autograd.gradcheck`` compares the analytic Jacobian
with finite differences element by element (PyTorch docs, "Gradcheck mechanics"); its "fast
mode" compares one random projection instead, ``w^T J u`` (Jacobian-vector products with random
``u`` and ``w``), which costs a few evaluations of the function whatever its size. This probe
does the same once per Function class, on the inputs of its first application, in float64.
"""
from __future__ import annotations

from typing import Any, Callable

import torch

from faultlens.instrumenter.probes.base import Probe, register

#: finite-difference step (float64 central differences: error ~ eps^2 * f''' + 1e-16 / eps)
EPS = 1e-6
#: random projections compared
DIRECTIONS = 2
#: inputs larger than this many elements in all are not checked (the evaluations would cost
#: more than a training step)
MAX_ELEMENTS = 4_000_000


@register
class CustomGradientProbe(Probe):
    """``function_grad_error``: the largest relative difference, over DIRECTIONS random
    projections, between the Function's backward and central differences of its forward
    (``|a - n| / max(|a|, |n|)``); ``function_elementwise``: 1 when its output has the shape of
    its first tensor input (an activation), else 0."""

    name = "custom_gradient"
    order = 75

    def on_function_apply(self, node: str, apply: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        res = directional_error(apply, args, kwargs)
        if res is None:
            return
        err, elementwise = res
        self.ctx.put("function_grad_error", node, err)
        self.ctx.put("function_elementwise", node, 1.0 if elementwise else 0.0)


def _float_outputs(out: Any) -> list[torch.Tensor]:
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o for o in outs if isinstance(o, torch.Tensor) and o.is_floating_point()]


def directional_error(apply: Callable[..., Any], args: tuple, kwargs: dict) -> tuple[float, bool] | None:
    """(relative error, elementwise) of ``apply``'s backward against central differences along
    random directions, on float64 copies of its floating-point tensor arguments; None when
    there is nothing to check (no float input or output, inputs too large, no gradient)."""
    idx = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor) and a.is_floating_point()]
    if not idx or sum(args[i].numel() for i in idx) > MAX_ELEMENTS:
        return None
    gen = torch.Generator().manual_seed(0)   # never the program's global RNG

    def rand(t: torch.Tensor) -> torch.Tensor:
        return torch.randn(t.shape, generator=gen, dtype=torch.float64).to(t.device)

    base = [args[i].detach().to(torch.float64) for i in idx]

    def run(vals: list[torch.Tensor]) -> list[torch.Tensor]:
        a2 = list(args)
        for i, v in zip(idx, vals):
            a2[i] = v
        return _float_outputs(apply(*a2, **kwargs))

    with torch.enable_grad():
        xs = [b.clone().requires_grad_(True) for b in base]
        outs = run(xs)
        if not outs or not any(o.requires_grad for o in outs):
            return None
        ws = [rand(o) for o in outs]
        obj = sum((o.to(torch.float64) * w).sum() for o, w in zip(outs, ws))
        grads = torch.autograd.grad(obj, xs, allow_unused=True)
    elementwise = tuple(outs[0].shape) == tuple(base[0].shape)
    worst = None
    with torch.no_grad():
        for _ in range(DIRECTIONS):
            us = [rand(b) for b in base]
            analytic = float(sum((g * u).sum() for g, u in zip(grads, us) if g is not None))
            plus = run([b + EPS * u for b, u in zip(base, us)])
            minus = run([b - EPS * u for b, u in zip(base, us)])
            numeric = float(sum(((p.to(torch.float64) - m.to(torch.float64)) * w).sum()
                                for p, m, w in zip(plus, minus, ws))) / (2 * EPS)
            scale = max(abs(analytic), abs(numeric))
            if scale < 1e-10:
                continue
            e = abs(analytic - numeric) / scale
            worst = e if worst is None else max(worst, e)
    return None if worst is None else (worst, elementwise)
