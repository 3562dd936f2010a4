"""Activation statistics of every leaf layer during a sampled training forward."""
from __future__ import annotations

from faultlens.instrumenter.probes.base import Probe, first_tensor, register, tensor_stats
# functional ops whose effect on the preceding layer's output is measured from the graph flow,
# with their saturation cut-offs; ReLU-like and saturating modules
from faultlens.taxonomy import PROBED_ACTIVATION_OPS as ACTIVATION_OPS
from faultlens.taxonomy import PROBED_RELU_LAYERS as RELU_LIKE
from faultlens.taxonomy import PROBED_SATURATING_LAYERS as SATURATING


@register
class ActivationProbe(Probe):
    """Per leaf layer output mean/std/min/max and non-finite count; zero fraction after
    ReLU-like layers (and for functional relu after a layer, from the graph flow); saturated
    fraction for sigmoid/tanh; the same statistics for the model's final output. The leaf
    hooks exist only during the sampled forward (``ctx.hook_layer``)."""

    name = "activations"
    order = 40

    def on_forward_pre(self, mw, args, kwargs):
        self.seen: set[str] = set()   # a module called several times per forward: first call only
        hook_layer = self.ctx.hook_layer
        for name, mod in mw.leaves:
            hook_layer(self, mw, mod, self._layer(mw, name, mod))

    def _layer(self, mw, name, mod):
        node = mw.layer_node(name)
        tname = type(mod).__name__
        relu = tname in RELU_LIKE or (tname == "Threshold")
        sat = SATURATING.get(tname)
        after = mw.after_ops.get(name, ())

        def record(module, args, output):
            if node in self.seen:
                return
            self.seen.add(node)
            t = first_tensor(output)
            if t is not None and t.is_floating_point():
                self._record(node, t, relu, sat, after)

        return record

    def _record(self, node, t, relu, sat, after):
        put = self.ctx.put
        st = tensor_stats(t)
        if st is None:
            return
        mean, std, mn, mx, bad = st
        put("act_mean", node, mean)
        put("act_std", node, std)
        put("act_min", node, mn)
        put("act_max", node, mx)
        put("act_nonfinite", node, bad)
        d = t.detach()
        n = d.numel()
        if relu:
            put("act_zero_frac", node, float((d == 0).sum()) / n)
        if sat == "sigmoid":
            put("act_sat_frac", node, float(((d < 0.01) | (d > 0.99)).sum()) / n)
        elif sat == "tanh":
            put("act_sat_frac", node, float((d.abs() > 0.99).sum()) / n)
        for op_node, op in after:
            if op in ("relu", "relu6"):
                put("act_zero_frac", op_node, float((d <= 0).sum()) / n)
            elif ACTIVATION_OPS.get(op):
                put("act_sat_frac", op_node, float((d.abs() > ACTIVATION_OPS[op]).sum()) / n)

    def on_forward(self, mw, args, output):
        t = first_tensor(output)
        if t is None or not t.is_floating_point():
            return
        self._record(f"{mw.node}#output", t, False, None, ())
