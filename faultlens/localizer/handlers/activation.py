"""activation: the activation's construction and its call in ``forward``; its removal.

Located: the activations among the evidence nodes (else the layers/ops given, else the
graph's), at most two, each with its call in ``forward``; the loss too when the output/loss
contract is broken (``output_range_mismatch``). Patched as ``loss_function``: a softmax/sigmoid
before a logits loss removed (an op call replaced by its input, an ``nn.Softmax`` element of a
Sequential dropped), or the loss swapped.
"""
from __future__ import annotations

from faultlens.localizer import Collector
from faultlens.localizer.handlers._base import EditPlan, Example, FaultHandler
from faultlens.localizer.handlers._common import locate_activation, locate_loss
from faultlens.localizer.handlers._output import output_pairing
from faultlens.localizer.patches import CommandLine


class Activation(FaultHandler):
    fault_type = "activation"
    summary = ("the activation's construction and call (and the loss for a broken output/loss contract); "
               "the squashing activation before a logits loss removed")
    EXAMPLES: list[Example] = []

    def locate(self, c: Collector) -> None:
        locate_activation(c, c.nodes)
        if any(d.symptom == "output_range_mismatch" for d in c.detections):
            locate_loss(c)

    def patch(self, fault, g, tv, locations) -> EditPlan | CommandLine | None:
        return output_pairing(fault, g)
