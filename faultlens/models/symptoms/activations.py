"""Symptoms read from activation statistics."""
from __future__ import annotations

import numpy as np

from faultlens.models.symptoms.base import Symptom, finite, fmt, judged, register
from faultlens.models.symptoms.graph_facts import base_node


def _median_late(tv, metric, node):
    s, v = finite(*tv.series(metric, node))
    js, jv = judged(s, v)
    if len(jv) < 3:
        return None, None
    return float(np.median(jv)), int(js[0])


@register
class DeadRelu(Symptom):
    """ReLU units that never fire.

    Threshold (DeepDiagnosis: dead ReLU layer when > 70% of its outputs are <= 0; AUTOTRAINER:
    >= 70% of gradient entries exactly 0; DEFault: dead ReLU > 70%): the median fraction of
    exact zeros in a ReLU layer's output > 0.7 over the run after its first 30%. Layers are
    known to be ReLUs from the graph; without a graph every non-output node with zero
    fractions is judged."""

    name = "dead_relu"
    category = "context"
    reliability = 0.5
    evidence = {"learning_rate": 0.8, "weight_initialization": 0.8, "activation": 0.6,
                "data_preprocessing": 0.3}
    threshold = 0.7

    def detect(self, tv, gf):
        out = []
        for node in tv.nodes("act_zero_frac"):
            if node.endswith("#output"):
                continue
            z = gf.is_zeroing_activation(node)
            if z is False:
                continue
            med, st = _median_late(tv, "act_zero_frac", node)
            if med is not None and med > self.threshold:
                out.append(self.hit(st, gf.canonical(node), med, f"{med:.0%} of the outputs of {node} are zero",
                                    min(1.0, (med - self.threshold) / (1 - self.threshold) + 0.3)))
        return out


@register
class SaturatedActivation(Symptom):
    """Sigmoid/tanh units stuck in their flat regions.

    Threshold (DeepDiagnosis): > 50% of the inputs beyond +-5 — measured on the outputs as the
    saturated fraction (sigmoid < 0.01 or > 0.99, |tanh| > 0.99, i.e. |input| > ~4.6 / ~2.6),
    median over the run after its first 30%. TheDeepChecker's stricter 0.85 is reported as
    strength 1."""

    name = "saturated_activation"
    category = "context"
    reliability = 0.5
    evidence = {"activation": 1.2, "data_preprocessing": 0.8, "weight_initialization": 0.8,
                "learning_rate": 0.3}
    threshold = 0.5

    def detect(self, tv, gf):
        out = []
        for node in tv.nodes("act_sat_frac"):
            sat = gf.is_saturating(node)
            if sat is False:
                continue
            med, st = _median_late(tv, "act_sat_frac", node)
            if med is not None and med > self.threshold:
                out.append(self.hit(st, gf.canonical(node), med, f"{med:.0%} of the outputs of {node} are saturated",
                                    1.0 if med >= 0.85 else 0.6, output=node.endswith("#output")))
        return out


@register
class AbnormalActivationScale(Symptom):
    """Hidden activations with a degenerate scale at the start of training.

    TheDeepChecker asks for activation std within [0.5, 2]; PyTorch's default initialisation
    legitimately shrinks activations below 0.5, so faultlens widens the band by a factor 50:
    the first recorded std of a parameterised layer's output < 0.01 or > 100 (zero, constant or
    huge initial weights; or unscaled inputs)."""

    name = "abnormal_activation_scale"
    category = "context"
    reliability = 0.4
    evidence = {"weight_initialization": 1.5, "data_preprocessing": 0.4}

    def detect(self, tv, gf):
        out = []
        for node in tv.nodes("act_std"):
            if node.endswith("#output"):
                continue
            k = gf.kind_of(node)
            if k is not None and k not in {"Linear", "Conv1d", "Conv2d", "Conv3d", "LazyLinear", "Bilinear"}:
                continue
            s, v = finite(*tv.series("act_std", node))
            if not len(v):
                continue
            if v[0] < 0.01 or v[0] > 100:
                out.append(self.hit(int(s[0]), gf.canonical(node), float(v[0]),
                                    f"initial output std of {node} is {fmt(float(v[0]))} (usual 0.01..100)",
                                    0.7, direction="low" if v[0] < 0.01 else "high"))
        return out
