"""Symptoms of regularization strong enough to stop the model from fitting."""
from __future__ import annotations

import numpy as np

from faultlens.models.symptoms.base import MIN_STEPS, Symptom, finite, fmt, head_tail, register
from faultlens.models.symptoms.loss import _loss, cut_by_budget, far_enough

#: a weight-decay coefficient this large is far outside the settings in use: 1e-4 / 5e-4 for SGD
#: on ImageNet (He et al., ResNet), 0.01 for AdamW (Loshchilov & Hutter; BERT), 0.1 for GPT-2-style
#: AdamW training (nanoGPT's default). Five times the largest of them.
WD_LARGE = 0.5
#: the weights' total norm at the end at most this fraction of its start: the decay pulls them
#: towards zero faster than the data pushes them out (training without decay grows them)
SHRUNK = 0.8
#: or the loss stayed at a floor: its last 20% at least this fraction of its first 10%
FLOOR = 0.5


def _weight_norm_ratio(tv) -> float | None:
    """sqrt(sum of squared weight norms at the last record / at the first), over every tensor
    whose ``weight_norm`` was recorded at least twice."""
    first = last = 0.0
    for _, (s, v) in tv.all_series("weight_norm").items():
        _, v = finite(s, v)
        if len(v) >= 2:
            first += float(v[0]) ** 2
            last += float(v[-1]) ** 2
    return float(np.sqrt(last / first)) if first > 0 else None


@register
class StrongWeightDecay(Symptom):
    """The optimizer's weight decay is so strong that the model cannot fit: a recorded
    ``weight_decay`` of a parameter group >= WD_LARGE (0.5; the settings in use are 1e-5..0.1),
    and its effect shows in the run: the weights' total norm shrank to <= 80% of its start, or
    the loss stayed at a floor (its last 20% >= half its first 10%) in a run that ended by
    itself without a good result (``far_enough``). Issue 13's regularization class: every other
    curve may look normal (the loss falls a little and settles), so nothing else fires."""

    name = "strong_weight_decay"
    category = "failure"
    reliability = 0.8
    evidence = {"regularization": 4.0, "optimizer": 0.5}

    def detect(self, tv, gf):
        groups = [(node, float(np.max(v))) for node, (s, v) in tv.all_series("weight_decay").items()
                  if len(finite(s, v)[1])]
        strong = [(node, wd) for node, wd in groups if wd >= WD_LARGE]
        if not strong:
            return []
        s, v = _loss(tv)
        if len(v) < MIN_STEPS:
            return []
        node, wd = max(strong, key=lambda t: t[1])
        opt_node = node.split("#g")[0]
        ratio = _weight_norm_ratio(tv)
        head, tail = head_tail(v)
        floor = (not cut_by_budget(tv) and head > 0 and tail >= FLOOR * head
                 and far_enough(tv, gf) is None)
        if ratio is not None and ratio <= SHRUNK:
            return [self.hit(int(s[-1]), opt_node, wd,
                             f"weight decay {fmt(wd)} shrank the weights to {ratio:.0%} of their norm at the start",
                             1.0, weight_norm_ratio=ratio)]
        if floor:
            return [self.hit(int(s[-1]), opt_node, wd,
                             f"weight decay {fmt(wd)}, and the loss stayed at {fmt(tail)} from {fmt(head)}",
                             0.9, weight_norm_ratio=ratio)]
        return []
