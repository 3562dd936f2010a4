"""weight_initialization: the ``nn.init`` call (or the layers); a standard initializer.

Located: the flagged ``nn.init`` calls (else the graph's, at most two), else the weighted
layers. Patched: a zero/constant/huge init of a weight -> ``xavier_uniform_``
(``kaiming_uniform_(..., nonlinearity="relu")`` in ReLU networks).
"""
from __future__ import annotations

import ast

from faultlens.localizer import Collector, resolve_path
from faultlens.localizer import source as src
from faultlens.edits.structural import ReplaceExpr
from faultlens.localizer.handlers._base import EditPlan, Example, FaultHandler
from faultlens.localizer.patches import CommandLine


class WeightInitialization(FaultHandler):
    fault_type = "weight_initialization"
    EXAMPLES = [
        Example("""
            import torch
            import torch.nn as nn
            model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 2))
            nn.init.zeros_(model[0].weight)
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(64, 10), torch.randint(0, 2, (64,))
            for epoch in range(20):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """,
            lines=(("construction", 4),),
            detections=(("vanishing_gradient", {}),),
            diff="""
            faultlens: weight_initialization: initialise model[0].weight with kaiming_uniform_ instead of zeros_
            --- ./example.py
            +++ ./example.py
            @@ -1,7 +1,8 @@
             import torch
             import torch.nn as nn
             model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 2))
            -nn.init.zeros_(model[0].weight)
            +# faultlens: initialise model[0].weight with kaiming_uniform_ instead of zeros_
            +nn.init.kaiming_uniform_(model[0].weight, nonlinearity="relu")
             criterion = nn.CrossEntropyLoss()
             optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
             x, y = torch.randn(64, 10), torch.randint(0, 2, (64,))
            """,
            note="a zero init in a ReLU network"),
        Example("""
            import torch
            import torch.nn as nn
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(10, 32)
                    self.fc2 = nn.Linear(32, 1)
                    nn.init.normal_(self.fc1.weight, std=10.0)
                def forward(self, x):
                    return self.fc2(torch.tanh(self.fc1(x)))
            model = Net()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
            x, y = torch.randn(64, 10), torch.randn(64, 1)
            for epoch in range(20):
                optimizer.zero_grad()
                loss = ((model(x) - y) ** 2).mean()
                loss.backward()
                optimizer.step()
            """,
            lines=(("construction", 8),),
            detections=(("saturated_activation", {}),),
            diff="""
            faultlens: weight_initialization: initialise self.fc1.weight with xavier_uniform_ instead of normal_
            --- ./example.py
            +++ ./example.py
            @@ -5,7 +5,8 @@
                     super().__init__()
                     self.fc1 = nn.Linear(10, 32)
                     self.fc2 = nn.Linear(32, 1)
            -        nn.init.normal_(self.fc1.weight, std=10.0)
            +        # faultlens: initialise self.fc1.weight with xavier_uniform_ instead of normal_
            +        nn.init.xavier_uniform_(self.fc1.weight)
                 def forward(self, x):
                     return self.fc2(torch.tanh(self.fc1(x)))
             model = Net()
            """,
            note="a huge normal init in a tanh network"),
        Example("""
            import torch
            import torch.nn as nn
            model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 2))
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(64, 10), torch.randint(0, 2, (64,))
            for epoch in range(20):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """,
            lines=(("construction", 3),),
            detections=(("vanishing_gradient", {}),),
            note="no nn.init call: the weighted layers, no patch"),
    ]

    def locate(self, c: Collector) -> None:
        g = c.graph
        inits = [n for n in (c.node(x) for x in c.nodes) if n is not None and n.kind == "init"] or g.nodes("init")
        for n in inits[:2]:
            c.add_span(n.span, n.id, "construction")
        if not inits:
            layers = [n for n in (c.node(x) for x in c.nodes) if n is not None and n.kind == "layer"]
            if not layers:
                layers = [n for n in g.nodes("layer") if n.get("layer_type") in {"Linear", "Conv2d", "Conv1d", "LSTM", "GRU"}]
            for n in layers[:2]:
                c.add_span(n.get("expr_span") or n.span, n.id, "construction")

    def patch(self, fault, g, tv, locations) -> EditPlan | CommandLine | None:
        relu = any(n.get("layer_type") in {"ReLU", "LeakyReLU"} for n in g.nodes("layer")) or \
            any(n.get("op") in {"relu", "leaky_relu"} for n in g.nodes("op"))
        for n in g.nodes("init"):
            fn = n.get("fn") or ""
            val = n.get("value")
            bad = fn in {"zeros_", "ones_", "constant_", "normal_", "uniform_"} and "bias" not in str(n.get("target") or "")
            if fn in {"normal_", "uniform_"} and not (isinstance(val, (int, float)) and abs(val) >= 1):
                bad = False
            if not bad:
                continue
            ab = resolve_path(g, n.span.path)
            text, tree = src.parse(ab)
            for c in ast.walk(tree) if tree is not None else []:
                if isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute) and c.func.attr == fn and \
                        n.span.line <= c.lineno <= n.span.end_line and c.args:
                    prefix = ast.get_source_segment(text, c.func.value)
                    target = ast.get_source_segment(text, c.args[0])
                    new = (f'{prefix}.kaiming_uniform_({target}, nonlinearity="relu")' if relu
                           else f"{prefix}.xavier_uniform_({target})")
                    return ab, [ReplaceExpr(c.lineno, c.col_offset + 1, new, c.end_lineno, c.end_col_offset + 1)], \
                        f"initialise {target} with {'kaiming_uniform_' if relu else 'xavier_uniform_'} instead of {fn}"
        return None
