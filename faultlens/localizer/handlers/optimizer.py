"""optimizer: the optimizer's construction; its parameters or momentum.

Located: the construction of the flagged optimizer(s) (else the graph's, at most two).
Patched: an optimizer over a parameter subset or another model's parameters ->
``model.parameters()``; plain SGD without momentum -> ``momentum=0.9``.
"""
from __future__ import annotations

import ast

from faultlens.localizer import Collector, resolve_path
from faultlens.localizer import source as src
from faultlens.edits.structural import AddKwarg, ReplaceExpr
from faultlens.localizer.handlers._base import EditPlan, Example, FaultHandler
from faultlens.localizer.handlers._common import optimizers_that_ran, var_name
from faultlens.localizer.patches import CommandLine


class Optimizer(FaultHandler):
    fault_type = "optimizer"
    EXAMPLES = [
        Example("""
            import torch
            import torch.nn as nn
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(8, 16)
                    self.fc2 = nn.Linear(16, 1)
                def forward(self, x):
                    return self.fc2(torch.relu(self.fc1(x)))
            net = Net()
            optimizer = torch.optim.Adam(net.fc2.parameters(), lr=1e-3)
            x, y = torch.randn(32, 8), torch.randn(32, 1)
            for step in range(50):
                optimizer.zero_grad()
                loss = ((net(x) - y) ** 2).mean()
                loss.backward()
                optimizer.step()
            """,
            lines=(("construction", 11),),
            detections=(("unchanged_weights", {"scope": "parameter"}),),
            diff="""
            faultlens: optimizer: optimize all parameters of net
            --- ./example.py
            +++ ./example.py
            @@ -8,7 +8,8 @@
                 def forward(self, x):
                     return self.fc2(torch.relu(self.fc1(x)))
             net = Net()
            -optimizer = torch.optim.Adam(net.fc2.parameters(), lr=1e-3)
            +# faultlens: optimize all parameters of net
            +optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
             x, y = torch.randn(32, 8), torch.randn(32, 1)
             for step in range(50):
                 optimizer.zero_grad()
            """,
            note="an optimizer over one layer's parameters"),
        Example("""
            import torch
            import torch.nn as nn
            model = nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 3))
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
            criterion = nn.CrossEntropyLoss()
            x, y = torch.randn(128, 4), torch.randint(0, 3, (128,))
            for epoch in range(10):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """,
            lines=(("construction", 4),),
            detections=(("slow_convergence", {}),),
            diff="""
            faultlens: optimizer: add momentum=0.9 to SGD
            --- ./example.py
            +++ ./example.py
            @@ -1,7 +1,8 @@
             import torch
             import torch.nn as nn
             model = nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 3))
            -optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
            +# faultlens: add momentum=0.9 to SGD
            +optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
             criterion = nn.CrossEntropyLoss()
             x, y = torch.randn(128, 4), torch.randint(0, 3, (128,))
             for epoch in range(10):
            """,
            note="plain SGD that converges slowly"),
    ]

    def locate(self, c: Collector) -> None:
        opts = [n for n in (c.node(x) for x in c.nodes) if n is not None and n.kind == "optimizer"] or c.graph.nodes("optimizer")
        for o in opts[:2]:
            c.add_span(o.get("expr_span") or o.span, o.id, "construction")

    def patch(self, fault, g, tv, locations) -> EditPlan | CommandLine | None:
        opts = optimizers_that_ran(g, tv)
        if not opts:
            return None
        o = opts[0]
        ab = resolve_path(g, o.span.path)
        if o.get("params_kind") in {"subset", "other_model"}:
            fwd = g.nodes("call", method="forward")
            mv = fwd[0].get("receiver") if fwd else None
            mv = mv if isinstance(mv, str) and mv.replace(".", "").replace("_", "").isalnum() else var_name((g.nodes("model") or [None])[0], "model")
            text, tree = src.parse(ab)
            for c in ast.walk(tree) if tree is not None else []:
                if isinstance(c, ast.Call) and c.lineno == (o.get("expr_span") or o.span.to_dict())["line"] and c.args:
                    a = c.args[0]
                    return ab, [ReplaceExpr(a.lineno, a.col_offset + 1, f"{mv}.parameters()", a.end_lineno, a.end_col_offset + 1)], \
                        f"optimize all parameters of {mv}"
        if (o.get("optimizer_type") == "SGD" and not (o.get("args") or {}).get("momentum")):
            sp = o.get("expr_span") or o.span.to_dict()
            text, tree = src.parse(ab)
            for c in ast.walk(tree) if tree is not None else []:
                if isinstance(c, ast.Call) and c.lineno == sp["line"] and isinstance(c.func, (ast.Attribute, ast.Name)) and \
                        (getattr(c.func, "attr", None) or getattr(c.func, "id", None)) == "SGD":
                    return ab, [AddKwarg(c.lineno, c.col_offset + 1, "momentum", "0.9")], "add momentum=0.9 to SGD"
        return None
