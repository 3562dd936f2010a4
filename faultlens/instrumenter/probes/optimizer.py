"""The optimizer's settings as the program changes them: learning rate, momentum, betas."""
from __future__ import annotations

import torch

from faultlens.instrumenter.probes.base import Probe, register


@register
class OptimizerProbe(Probe):
    """Every step: lr per param group and the step count. Sampled steps: momentum, betas,
    weight decay per group."""

    name = "optimizer"
    order = 70

    def __init__(self, ctx, setting=None):
        super().__init__(ctx, setting)
        # OptWatch -> series keys [opt_step, (lr of group i, node of group i)...], built once per
        # optimizer and group count (every step would format the same strings)
        self._keys: dict = {}

    def on_opt_post(self, ow):
        ctx = self.ctx
        node = ow.node
        if node is None:
            return
        groups = ow.opt.param_groups
        keys = self._keys.get(ow)
        if keys is None or len(keys) != len(groups) + 1 or keys[0][0] != ("opt_step", node):
            keys = self._keys[ow] = [(("opt_step", node), None)] + [
                (("lr", f"{node}#g{gi}"), f"{node}#g{gi}") for gi in range(len(groups))]
        put_key = ctx.put_key
        put_key(keys[0][0], float(ow.steps))
        sampled = ctx.sampled
        for (lr_key, gnode), group in zip(keys[1:], groups):
            lr = group.get("lr")
            if isinstance(lr, torch.Tensor):
                lr = float(lr)
            if isinstance(lr, (int, float)):
                put_key(lr_key, float(lr))
            if not sampled:
                continue
            mom = group.get("momentum")
            if isinstance(mom, (int, float)):
                ctx.put("momentum", gnode, float(mom))
            betas = group.get("betas")
            if isinstance(betas, (tuple, list)) and len(betas) == 2:
                ctx.put("beta1", gnode, float(betas[0]))
                ctx.put("beta2", gnode, float(betas[1]))
            wd = group.get("weight_decay")
            if isinstance(wd, (int, float)):
                ctx.put("weight_decay", gnode, float(wd))
