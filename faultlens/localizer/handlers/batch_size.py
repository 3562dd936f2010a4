"""batch_size: where the batch size is defined and the DataLoader's ``batch_size=``.

Located: the definition of the first DataLoader's ``batch_size``, then the argument. Patched:
a batch size <= 2 -> 32, >= 2048 -> 256 (at its definition, or on the command line).
"""
from __future__ import annotations

from faultlens.localizer import Collector
from faultlens.localizer.handlers._base import EditPlan, Example, FaultHandler
from faultlens.localizer.handlers._common import add_hp
from faultlens.localizer.handlers._values import replace_value
from faultlens.localizer.patches import CommandLine


class BatchSize(FaultHandler):
    fault_type = "batch_size"
    summary = "the batch size's definition and the DataLoader's batch_size=; 32 for <= 2, 256 for >= 2048"
    EXAMPLES: list[Example] = []

    def locate(self, c: Collector) -> None:
        g = c.graph
        dls = g.nodes("dataloader")
        if dls:
            add_hp(c, dls[0], "batch_size", "batch_size")
        else:
            for h in g.nodes("hyperparameter", hp="batch_size")[:1]:
                c.add_span(h.get("value_span") or h.span, h.id, "definition")

    def patch(self, fault, g, tv, locations) -> EditPlan | CommandLine | None:
        dls = g.nodes("dataloader")
        return replace_value(g, dls[0] if dls else None, "batch_size", "batch_size",
                             lambda v: 32 if v <= 2 else (256 if v >= 2048 else None), "batch size")
