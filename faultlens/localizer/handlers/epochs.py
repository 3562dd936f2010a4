"""epochs: where the epoch count is defined and the epoch loop; three times as many.

Located: the definition of the epoch loop's ``range`` bound, then the loop. Patched: epochs x3,
edited where the value is defined (or on the command line).
"""
from __future__ import annotations

from faultlens.localizer import Collector
from faultlens.localizer.handlers._base import EditPlan, Example, FaultHandler
from faultlens.localizer.handlers._common import add_hp
from faultlens.localizer.handlers._values import replace_value
from faultlens.localizer.patches import CommandLine


class Epochs(FaultHandler):
    fault_type = "epochs"
    summary = "the epoch count's definition and the epoch loop; three times as many epochs"
    EXAMPLES: list[Example] = []

    def locate(self, c: Collector) -> None:
        g = c.graph
        loops = g.nodes("loop", role="epoch")
        if loops:
            add_hp(c, loops[0], "range", "epochs")
            if not any(l.role == "use" for l in c.out):
                c.add_span(loops[0].span, loops[0].id, "use")
        else:
            for h in g.nodes("hyperparameter", hp="epochs")[:1]:
                c.add_span(h.get("value_span") or h.span, h.id, "definition")

    def patch(self, fault, g, tv, locations) -> EditPlan | CommandLine | None:
        loops = g.nodes("loop", role="epoch")
        return replace_value(g, loops[0] if loops else None, "range", "epochs", lambda v: v * 3, "epochs")
