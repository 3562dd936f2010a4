"""regularization: dropout layers, penalty coefficients and ``weight_decay``.

Located: a flagged penalty coefficient's definition and its uses, the dropout layers (at most
two), the optimizer's ``weight_decay`` (or the optimizer, when there is neither). Patched:
dropout >= 0.7 -> 0.3, weight decay >= 0.05 -> 5e-4, overfitting (``train_validation_gap``)
with neither -> ``weight_decay=1e-4``.
"""
from __future__ import annotations

import ast

from faultlens.localizer import Collector, resolve_path
from faultlens.localizer import source as src
from faultlens.edits.structural import AddKwarg, ReplaceExpr
from faultlens.localizer.handlers._base import EditPlan, Example, FaultHandler
from faultlens.localizer.handlers._common import add_hp, optimizers_that_ran
from faultlens.localizer.handlers._values import replace_value
from faultlens.localizer.patches import CommandLine


class Regularization(FaultHandler):
    fault_type = "regularization"
    EXAMPLES = [
        Example("""
            import torch
            import torch.nn as nn
            model = nn.Sequential(nn.Linear(20, 128), nn.ReLU(), nn.Dropout(0.9), nn.Linear(128, 2))
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            x, y = torch.randn(64, 20), torch.randint(0, 2, (64,))
            for epoch in range(20):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """,
            lines=(("construction", 3),),
            detections=(("loss_not_decreasing", {}),),
            diff="""
            faultlens: regularization: dropout 0.9 -> 0.3
            --- ./example.py
            +++ ./example.py
            @@ -1,6 +1,7 @@
             import torch
             import torch.nn as nn
            -model = nn.Sequential(nn.Linear(20, 128), nn.ReLU(), nn.Dropout(0.9), nn.Linear(128, 2))
            +# faultlens: dropout 0.9 -> 0.3
            +model = nn.Sequential(nn.Linear(20, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, 2))
             criterion = nn.CrossEntropyLoss()
             optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
             x, y = torch.randn(64, 20), torch.randint(0, 2, (64,))
            """,
            note="dropout 0.9"),
        Example("""
            import torch
            import torch.nn as nn
            model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 2))
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.5)
            x, y = torch.randn(64, 20), torch.randint(0, 2, (64,))
            for epoch in range(20):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """,
            lines=(("definition", 5), ("use", 5)),
            detections=(("loss_not_decreasing", {}),),
            diff="""
            faultlens: regularization: weight decay: 0.5 -> 0.0005
            --- ./example.py
            +++ ./example.py
            @@ -2,7 +2,8 @@
             import torch.nn as nn
             model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 2))
             criterion = nn.CrossEntropyLoss()
            -optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.5)
            +# faultlens: weight decay: 0.5 -> 0.0005
            +optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0005)
             x, y = torch.randn(64, 20), torch.randint(0, 2, (64,))
             for epoch in range(20):
                 optimizer.zero_grad()
            """,
            note="weight decay 0.5"),
        Example("""
            import torch
            import torch.nn as nn
            model = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 2))
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            x, y = torch.randn(32, 20), torch.randint(0, 2, (32,))
            xv, yv = torch.randn(32, 20), torch.randint(0, 2, (32,))
            for epoch in range(200):
                model.train()
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                model.eval()
                with torch.no_grad():
                    val_loss = criterion(model(xv), yv)
            """,
            lines=(("use", 5),),
            detections=(("train_validation_gap", {}),),
            diff="""
            faultlens: regularization: add weight_decay=1e-4 (L2 regularisation)
            --- ./example.py
            +++ ./example.py
            @@ -2,7 +2,8 @@
             import torch.nn as nn
             model = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 2))
             criterion = nn.CrossEntropyLoss()
            -optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            +# faultlens: add weight_decay=1e-4 (L2 regularisation)
            +optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
             x, y = torch.randn(32, 20), torch.randint(0, 2, (32,))
             xv, yv = torch.randn(32, 20), torch.randint(0, 2, (32,))
             for epoch in range(200):
            """,
            note="overfitting with neither dropout nor weight decay"),
    ]

    def locate(self, c: Collector) -> None:
        g = c.graph
        for n in (c.node(x) for x in c.nodes):
            if n is not None and n.kind == "hyperparameter":  # a penalty coefficient's definition
                c.add_span(n.get("value_span") or n.span, n.id, "definition")
                for u, v, d in g.edges("uses"):
                    if u == n.id:
                        c.add_span(g.node(v).span, v, "use")
        given = [n for n in (c.node(x) for x in c.nodes) if n is not None and n.kind != "hyperparameter"]
        drops = [n for n in given if n.kind == "layer"] or [n for n in g.nodes("layer") if (n.get("layer_type") or "").startswith("Dropout")]
        for n in drops[:2]:
            c.add_span(n.get("expr_span") or n.span, n.id, "construction")
        for o in g.nodes("optimizer")[:1]:
            spans = o.get("arg_spans") or {}
            if "weight_decay" in spans:
                add_hp(c, o, "weight_decay", "weight_decay")
            elif not drops:
                c.add_span(o.get("expr_span") or o.span, o.id, "use", "no weight decay / dropout")

    def patch(self, fault, g, tv, locations) -> EditPlan | CommandLine | None:
        for n in g.nodes("layer"):
            if (n.get("layer_type") or "").startswith("Dropout"):
                sp = (n.get("arg_spans") or {}).get("p") or (n.get("arg_spans") or {}).get("0")
                p = (n.get("args") or {}).get("p", (n.get("args") or {}).get("0"))
                if sp and isinstance(p, (int, float)) and p >= 0.7:
                    return resolve_path(g, sp["path"]), [ReplaceExpr(sp["line"], sp["column"], "0.3", sp["end_line"], sp["end_column"])], \
                        f"dropout {p} -> 0.3"
        opts = optimizers_that_ran(g, tv)
        if not opts:
            return None
        o = opts[0]
        wd = (o.get("args") or {}).get("weight_decay")
        if isinstance(wd, (int, float)) and wd >= 0.05:
            return replace_value(g, o, "weight_decay", "weight_decay", lambda old: 5e-4, "weight decay")
        if wd is None and any(d.symptom == "train_validation_gap" for d in fault.detections):
            sp = o.get("expr_span") or o.span.to_dict()
            ab = resolve_path(g, sp["path"])
            text, tree = src.parse(ab)
            for c in ast.walk(tree) if tree is not None else []:
                if isinstance(c, ast.Call) and c.lineno == sp["line"] and c.col_offset + 1 == sp["column"]:
                    return ab, [AddKwarg(c.lineno, c.col_offset + 1, "weight_decay", "1e-4")], "add weight_decay=1e-4 (L2 regularisation)"
        return None
