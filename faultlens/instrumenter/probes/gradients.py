"""Gradient norms at each optimizer step."""
from __future__ import annotations

import math

import torch

from faultlens.instrumenter.probes.base import Probe, opt_params, register


@register
class GradProbe(Probe):
    """Every (tier-1) step: the total gradient norm of the optimizer's parameters (one fused
    ``torch._foreach_norm``). Sampled steps: per parameter norm, zero fraction, non-finite."""

    name = "gradients"
    order = 50
    gates = {"on_opt_pre": "tier1"}

    def __init__(self, ctx, setting=None):
        super().__init__(ctx, setting)
        self._total_node: dict = {}   # OptWatch -> node of its grad_norm_total (found once)

    def on_opt_pre(self, ow):
        ctx = self.ctx
        items = [(gi, pi, p) for gi, pi, p in opt_params(ow.opt) if p.grad is not None and not p.grad.is_sparse]
        if not items:
            return
        grads = [p.grad for _, _, p in items]
        vals = torch.stack(torch._foreach_norm(grads)).tolist()   # one fused op, one host sync
        scale = ctx.grad_scale(ow.opt)
        if scale is not None:
            # a GradScaler's fused optimizer unscales inside its step: these are still scaled
            vals = [v / scale for v in vals]
        total = math.sqrt(sum(v * v for v in vals))
        gnode = self._total_node.get(ow)
        if gnode is None:
            gnode = self._total_node[ow] = ctx.params_node(ow, (p for _, _, p in items))
        ctx.put("grad_norm_total", gnode, total)
        if not ctx.sampled:
            return
        finite = math.isfinite(total)
        for (gi, pi, p), g, v in zip(items, grads, vals):
            node = ctx.param_node(p, ow, gi, pi)
            ctx.put("grad_norm", node, v)
            ctx.put("grad_zero_frac", node, float((g == 0).sum()) / max(1, g.numel()))
            ctx.put("grad_nonfinite", node, 0.0 if finite else float((~torch.isfinite(g)).sum()))
