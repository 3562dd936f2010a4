"""The loss and the batch accuracy, every step."""
from __future__ import annotations

import math

import torch

from faultlens.instrumenter.probes.base import Probe, first_tensor, register


@register
class LossProbe(Probe):
    """Training loss (mean over the iteration's loss calls) and ``val_loss`` (mean over the
    batches evaluated with grad disabled during the iteration, weighted by batch size). A
    non-finite training loss samples the next step and counts toward the non-finite early stop."""

    name = "loss"
    order = 10

    def on_loss(self, lw, out, args, kwargs, val):
        ctx = self.ctx
        o = out.detach()
        v = float(o) if o.numel() == 1 else float(o.float().mean())
        if val:
            first = first_tensor(args)
            w = float(first.shape[0]) if first is not None and first.dim() > 0 else 1.0
            ctx.mean("val_loss", lw.node, v, w)
        else:
            ctx.mean("loss", lw.node, v)
            if not math.isfinite(v):
                ctx.request_sample()
                ctx.mark_nonfinite_loss()


@register
class AccuracyProbe(Probe):
    """Batch accuracy when the loss input is class scores and the target class indices
    (or one-hot/probabilities, or binary targets for BCE-type losses)."""

    name = "accuracy"
    order = 20
    _int = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)

    def on_loss(self, lw, out, args, kwargs, val):
        if not val and not self.ctx.tier1:
            return
        if len(args) < 2:
            tgt = kwargs.get("target")
            if len(args) < 1 or tgt is None:
                return
            o = args[0]
        else:
            o, tgt = args[0], args[1]
        if not isinstance(o, torch.Tensor) or not isinstance(tgt, torch.Tensor):
            return
        acc = self.accuracy(o.detach(), tgt.detach(), lw.loss_type)
        if acc is None:
            return
        correct, n = acc
        if n == 0:
            return
        self.ctx.mean("val_accuracy" if val else "accuracy", lw.node, correct / n, float(n))

    def accuracy(self, o: torch.Tensor, t: torch.Tensor, loss_type: str) -> tuple[float, int] | None:
        if loss_type in ("BCEWithLogitsLoss", "BCELoss"):
            if o.numel() != t.numel() or o.numel() == 0:
                return None
            if not bool(((t == 0) | (t == 1)).all()):
                return None  # soft targets (a VAE's pixel intensities): no classes, no accuracy
            thr = 0.0 if loss_type == "BCEWithLogitsLoss" else 0.5
            pred = o.reshape(-1) > thr
            return float((pred == (t.reshape(-1) > 0.5)).sum()), o.numel()
        if loss_type in ("MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "KLDivLoss"):
            return None
        if not o.is_floating_point() or o.dim() < 2 or o.shape[1] < 2:
            return None
        if t.dtype in self._int:
            if t.dim() == o.dim() - 1 and t.shape[0] == o.shape[0] and tuple(o.shape[2:]) == tuple(t.shape[1:]):
                mask = t >= 0  # ignore_index (-100 by default) is negative
                n = int(mask.sum())
                return float(((o.argmax(1) == t) & mask).sum()), n
            return None
        if t.is_floating_point() and t.shape == o.shape and loss_type in ("CrossEntropyLoss", "cross_entropy"):
            return float((o.argmax(1) == t.argmax(1)).sum()), t.numel() // t.shape[1]
        return None
