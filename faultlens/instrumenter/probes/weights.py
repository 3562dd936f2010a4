"""Weight norms and the relative size of each update, on sampled steps."""
from __future__ import annotations

import math

import torch

from faultlens.instrumenter.probes.base import Probe, opt_params, register


class _Snapshot:
    """The weights of one optimizer before its step (what the update ratio compares with)."""

    __slots__ = ("weights", "params", "norms", "total")

    def __init__(self, weights, params, norms, total):
        self.weights, self.params, self.norms, self.total = weights, params, norms, total


@register
class WeightProbe(Probe):
    """Sampled steps: per parameter weight norm and non-finite count before the update, and
    the update ratio ||w_after - w_before|| / ||w_before|| over the optimizer step."""

    name = "weights"
    order = 60
    # on_opt_post stays ungated: it must consume a snapshot taken by on_opt_pre even if the
    # sampling decision changed in between (an LBFGS closure inside step())
    gates = {"on_opt_pre": "sampled"}

    def __init__(self, ctx, setting=None):
        super().__init__(ctx, setting)
        self._before: dict = {}   # OptWatch -> its weights before the step in progress

    def on_opt_pre(self, ow):
        ctx = self.ctx
        self._before.pop(ow, None)
        items = opt_params(ow.opt)
        if not items:
            return
        ws = [p.detach() for _, _, p in items]
        norms = torch.stack([n.float() for n in torch._foreach_norm(ws)])
        vals = norms.tolist()
        total = float(torch.linalg.vector_norm(norms))
        finite = math.isfinite(total)
        for (gi, pi, p), w, v in zip(items, ws, vals):
            node = ctx.param_node(p, ow, gi, pi)
            ctx.put("weight_norm", node, v)
            ctx.put("weight_nonfinite", node, 0.0 if finite else float((~torch.isfinite(w)).sum()))
        ctx.put("weight_norm_total", ctx.params_node(ow, (p for _, _, p in items)), total)
        self._before[ow] = _Snapshot([w.clone() for w in ws], [p for _, _, p in items], vals, total)

    def on_opt_post(self, ow):
        if not self._before:   # the usual, unsampled step: nothing to compare
            return
        snap = self._before.pop(ow, None)
        if snap is None:
            return
        ctx = self.ctx
        after = [p.detach() for p in snap.params]
        deltas = torch._foreach_sub(after, snap.weights)
        dn = torch.stack([n.float() for n in torch._foreach_norm(deltas)])
        items = opt_params(ow.opt)
        for (gi, pi, p), d, w in zip(items, dn.tolist(), snap.norms):
            ctx.put("update_ratio", ctx.param_node(p, ow, gi, pi), d / w if w > 0 else (0.0 if d == 0 else math.inf))
        total = float(torch.linalg.vector_norm(dn))
        wt = snap.total
        ctx.put("update_ratio_total", ctx.params_node(ow, (p for _, _, p in items)),
                total / wt if wt > 0 else (0.0 if total == 0 else math.inf))
