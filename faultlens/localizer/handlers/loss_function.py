"""loss_function: the loss's construction and call; the loss that matches the output.

Located: the first loss's construction and its call, then the activations among the evidence
nodes. Patched (the output/loss contract, shared with ``activation``): raw scores into
``NLLLoss`` -> ``CrossEntropyLoss``, logits into ``BCELoss`` -> ``BCEWithLogitsLoss``, else a
softmax/sigmoid before a logits loss removed.
"""
from __future__ import annotations

from faultlens.localizer import Collector
from faultlens.localizer.handlers._base import EditPlan, Example, FaultHandler
from faultlens.localizer.handlers._common import locate_activation, locate_loss
from faultlens.localizer.handlers._output import output_pairing
from faultlens.localizer.patches import CommandLine


class LossFunction(FaultHandler):
    fault_type = "loss_function"
    summary = "the loss's construction and call; CrossEntropyLoss / BCEWithLogitsLoss for the output it gets"
    EXAMPLES: list[Example] = []

    def locate(self, c: Collector) -> None:
        locate_loss(c)
        acts = [n for n in c.nodes if (c.node(n) is not None and c.node(n).kind in ("layer", "op"))]
        if acts:
            locate_activation(c, acts)

    def patch(self, fault, g, tv, locations) -> EditPlan | CommandLine | None:
        return output_pairing(fault, g)
