"""What a sampled training forward receives and what its loss compares against."""
from __future__ import annotations

import torch

from faultlens.instrumenter.probes.base import Probe, first_tensor, register, tensor_stats


@register
class BatchProbe(Probe):
    """Inputs of a sampled training forward and targets of its loss: range, mean, std, dtype."""

    name = "batch"
    order = 30
    gates = {"on_forward_pre": "sampled", "on_loss": "sampled"}
    last_target_step = -1   # the step whose targets were recorded (the first loss call only)

    def on_forward_pre(self, mw, args, kwargs):
        x = first_tensor(args) if args else first_tensor(kwargs)
        if x is None:
            return
        st = tensor_stats(x)
        if st is None:
            return
        mean, std, mn, mx, _ = st
        put = self.ctx.put
        for m, v in (("input_min", mn), ("input_max", mx), ("input_mean", mean), ("input_std", std),
                     ("input_is_float", float(x.is_floating_point()))):
            put(m, mw.node, v)

    def on_eval_forward_pre(self, mw, args, kwargs):
        """The same statistics of an evaluation forward's input (grad disabled), at most once per
        training step: a preprocessing that differs between training and evaluation shows."""
        x = first_tensor(args) if args else first_tensor(kwargs)
        if x is None or not x.is_floating_point():
            return
        st = tensor_stats(x)
        if st is None:
            return
        mean, std, _, _, _ = st
        self.ctx.put("val_input_mean", mw.node, mean)
        self.ctx.put("val_input_std", mw.node, std)

    def on_loss(self, lw, out, args, kwargs, val):
        ctx = self.ctx
        if val or len(args) < 2 or not isinstance(args[1], torch.Tensor):
            return
        step = ctx.step
        if self.last_target_step == step:   # several loss calls in one iteration: the first
            return
        self.last_target_step = step
        x = args[0]
        if isinstance(x, torch.Tensor) and x.is_floating_point():
            # what the loss itself receives (an op applied in the loop, such as log_softmax
            # on the model's output, sits between the two)
            xs = tensor_stats(x.detach())
            if xs is not None:
                ctx.put("loss_input_min", lw.node, xs[2])
                ctx.put("loss_input_max", lw.node, xs[3])
        t = args[1]
        st = tensor_stats(t)
        if st is None:
            return
        lead = ctx.lead_node
        node = lead if lead is not None else lw.node
        mean, std, mn, mx, _ = st
        for m, v in (("target_min", mn), ("target_max", mx), ("target_mean", mean), ("target_std", std),
                     ("target_is_int", float(not t.is_floating_point() and t.dtype != torch.bool)),
                     ("target_numel", float(t.numel()))):
            ctx.put(m, node, v)
