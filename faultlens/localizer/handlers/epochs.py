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
    EXAMPLES = [
        Example("""
            import torch
            import torch.nn as nn
            EPOCHS = 2
            model = nn.Linear(5, 1)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
            x, y = torch.randn(64, 5), torch.randn(64, 1)
            for epoch in range(EPOCHS):
                optimizer.zero_grad()
                loss = ((model(x) - y) ** 2).mean()
                loss.backward()
                optimizer.step()
            """,
            lines=(("definition", 3), ("use", 7)),
            detections=(("still_improving", {}),),
            diff="""
            faultlens: epochs: epochs: 2 -> 6
            --- ./example.py
            +++ ./example.py
            @@ -1,6 +1,7 @@
             import torch
             import torch.nn as nn
            -EPOCHS = 2
            +# faultlens: epochs: 2 -> 6
            +EPOCHS = 6
             model = nn.Linear(5, 1)
             optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
             x, y = torch.randn(64, 5), torch.randn(64, 1)
            """,
            note="a module constant epoch count"),
        Example("""
            import argparse
            import torch
            import torch.nn as nn
            parser = argparse.ArgumentParser()
            parser.add_argument("--epochs", type=int, default=1)
            args = parser.parse_args()
            model = nn.Linear(5, 1)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
            x, y = torch.randn(64, 5), torch.randn(64, 1)
            for epoch in range(args.epochs):
                optimizer.zero_grad()
                loss = ((model(x) - y) ** 2).mean()
                loss.backward()
                optimizer.step()
            """,
            lines=(("definition", 5), ("use", 10)),
            detections=(("too_few_steps", {}),),
            diff="""
            faultlens: epochs: epochs: 1 -> 3
            --- ./example.py
            +++ ./example.py
            @@ -2,7 +2,8 @@
             import torch
             import torch.nn as nn
             parser = argparse.ArgumentParser()
            -parser.add_argument("--epochs", type=int, default=1)
            +# faultlens: epochs: 1 -> 3
            +parser.add_argument("--epochs", type=int, default=3)
             args = parser.parse_args()
             model = nn.Linear(5, 1)
             optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
            """,
            note="an argparse default epoch count"),
    ]

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
