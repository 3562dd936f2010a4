"""What a sampled training forward receives and what its loss compares against."""
from __future__ import annotations

import torch

from faultlens.instrumenter.probes.base import Probe, first_tensor, register, tensor_stats


@register
class BatchProbe(Probe):
    """Inputs of a sampled training forward and targets of its loss: range, mean, std, dtype, and
    the entropy of the targets' class frequencies."""

    name = "batch"
    order = 30
    gates = {"on_forward_pre": "sampled", "on_loss": "sampled"}
    last_target_step = -1   # the step whose targets were recorded (the first loss call only)
    #: (step, tensor): the targets a sampled training forward was given (``model(x, y)``, a
    #: ``labels=``/``targets=`` argument), for a model that computes its own loss: used when the
    #: step's loss is only known as what ``.backward()`` was called on (no loss call watched)
    forward_targets: tuple[int, torch.Tensor] | None = None
    #: class counts of the targets of every sampled step so far (``target_entropy``)
    counts: torch.Tensor | None = None

    def on_forward_pre(self, mw, args, kwargs):
        x = first_tensor(args) if args else first_tensor(kwargs)
        if x is None:
            return
        y = forward_targets(x, args, kwargs)
        if y is not None:
            self.forward_targets = (self.ctx.step, y)
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
        if val:
            return
        step = ctx.step
        if len(args) < 2 or not isinstance(args[1], torch.Tensor):
            # the loss of a ``.backward()`` (no loss call was watched): the targets the model's
            # own forward was given this step, when it was given any
            ft = self.forward_targets
            if args or ft is None or ft[0] != step or self.last_target_step == step:
                return
            self.last_target_step = step
            self._targets(lw, ft[1])
            return
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
        self._targets(lw, args[1])

    def _targets(self, lw, t: torch.Tensor) -> None:
        ctx = self.ctx
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
        c = label_counts(t)
        if c is not None:
            # the frequencies over every sampled batch so far: one batch sees few of each class
            acc = self.counts
            if acc is None or len(acc) < len(c):
                grown = torch.zeros(len(c), dtype=torch.float64)
                if acc is not None:
                    grown[:len(acc)] += acc
                acc = grown
            acc[:len(c)] += c
            self.counts = acc
            seen = int((acc > 0).sum())
            if float(acc.sum()) >= 10 * seen:   # ten targets a class at least: else too rough
                ctx.put("target_entropy", node, entropy_of_counts(acc))


#: keyword names under which a model that computes its own loss is given the targets (``y`` is
#: left out: a model of two inputs often names its second one so)
TARGET_KWARGS = ("labels", "targets", "target", "label")


def forward_targets(x: torch.Tensor, args: tuple, kwargs: dict) -> torch.Tensor | None:
    """The targets among a forward's arguments: a ``labels=``/``targets=``... keyword tensor, else
    a second positional tensor of integers with the input's batch size (``model(idx, targets)``;
    a float second argument is more often a recurrent state than a target)."""
    for k in TARGET_KWARGS:
        t = kwargs.get(k)
        if isinstance(t, torch.Tensor) and t.numel():
            return t
    if len(args) >= 2 and isinstance(args[1], torch.Tensor) and args[0] is x:
        t = args[1]
        if (not t.is_floating_point() and t.dtype != torch.bool and t.numel() and t.dim() >= 1
                and x.dim() >= 1 and t.shape[0] == x.shape[0]):
            return t
    return None


#: the largest class index whose frequencies are counted (a label tensor of larger values is not
#: a class index)
MAX_CLASSES = 1 << 20


def label_counts(t: torch.Tensor) -> torch.Tensor | None:
    """How often each class occurs in one batch of targets (float64, indexed by class): class
    indices (negative values, an ``ignore_index``, left out) or 0/1 float targets; None for
    anything else (soft or continuous targets, booleans)."""
    t = t.detach().reshape(-1)
    if t.numel() < 2:
        return None
    if t.is_floating_point():
        ones = (t == 1)
        if not bool((ones | (t == 0)).all()):
            return None
        return torch.stack([(~ones).sum(), ones.sum()]).double().cpu()
    if t.dtype == torch.bool:
        return None
    t = t[t >= 0]
    if t.numel() < 2 or int(t.max()) >= MAX_CLASSES:
        return None
    return torch.bincount(t).double().cpu()


def entropy_of_counts(counts: torch.Tensor) -> float:
    """The entropy (nats) of class frequencies given as counts: the plug-in estimate with the
    Miller-Madow correction ((K - 1) / 2N for K classes seen in N targets; Miller 1955, "Note on
    the bias of information estimates"). It is the loss a classifier reaches by predicting the
    class frequencies alone, whatever its inputs."""
    c = counts[counts > 0]
    n = float(c.sum())
    p = c / n
    return float(-(p * p.log()).sum()) + (len(c) - 1) / (2.0 * n)
