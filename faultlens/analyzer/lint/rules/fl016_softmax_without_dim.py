"""FL016: softmax / log_softmax without an explicit dim."""
from __future__ import annotations

import ast

from faultlens.analyzer.lint import fixes
from faultlens.analyzer.lint.base import Invalid, LintRule, Valid
from faultlens.analyzer.lint.facts import call_name, dotted

_FUNCS = {"softmax", "log_softmax", "softmin", "Softmax", "LogSoftmax", "Softmin"}


class SoftmaxWithoutDim(LintRule):
    code = "FL016"
    name = "softmax-without-dim"
    severity = "warning"
    fault_type = "activation"
    summary = "F.softmax / F.log_softmax / nn.Softmax called without dim"
    rationale = ("Without dim PyTorch picks one from the input's rank (dim 0 for 0-, 1- and 3-D "
                 "inputs) and emits 'Implicit dimension choice for softmax has been deprecated'. "
                 "For a 3-D (batch, seq, classes) or unbatched input it normalises over the wrong "
                 "axis, mixing samples of the batch.")
    fix_summary = "add dim=1 (the class dimension of (batch, classes) logits)"
    INVALID = [
        Invalid("""
            import torch
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(4, 3)

                def forward(self, x):
                    return F.log_softmax(self.fc(x))

            model = Net()
            """, line=11, fixed="""
            import torch
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(4, 3)

                def forward(self, x):
                    return F.log_softmax(self.fc(x), dim=1)

            model = Net()
            """),
        Invalid("""
            import torch.nn as nn

            head = nn.Sequential(nn.Linear(16, 4), nn.Softmax())
            """, line=3, fixed="""
            import torch.nn as nn

            head = nn.Sequential(nn.Linear(16, 4), nn.Softmax(dim=1))
            """),
    ]
    VALID = [
        Valid("""
            import torch
            import torch.nn.functional as F

            logits = torch.randn(4, 3)
            p = F.softmax(logits, dim=-1)
            q = F.log_softmax(logits, 1)
            r = logits.softmax(1)
            """),
    ]

    def check(self, ctx):
        # graph first: ops and layers the builder found (forward functions, containers)
        seen = set()
        for op in ctx.nodes("op"):
            if op.get("op") in ("softmax", "log_softmax", "softmin") and op.get("dim") is None:
                seen.add((op.span.path, op.span.line))
        for lay in ctx.nodes("layer"):
            if lay.get("layer_type") in ("Softmax", "LogSoftmax", "Softmin"):
                seen.add((lay.span.path, lay.span.line))
        # every file of the program: functional calls and layer constructions without dim
        files = list(getattr(ctx.graph, "files", []) or [])
        for rel in files:
            facts = ctx.facts(rel)
            if facts is None:
                continue
            for call in facts.calls:
                nm = call_name(call)
                if nm not in _FUNCS or isinstance(call.func, ast.Call):
                    continue
                head = dotted(call.func) or ""
                layer = nm[0].isupper()
                if not layer and not (head.startswith(("F.", "torch.nn.functional.", "nn.functional.", "functional."))
                                      or head in _FUNCS):
                    continue  # torch.softmax / x.softmax need dim (a TypeError otherwise)
                npos = 0 if layer else 1
                if len(call.args) > npos or any(k.arg == "dim" for k in call.keywords):
                    continue
                if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
                    continue
                loc = ctx.ast_location(rel, call)
                text = facts.segment(*loc[1:])
                fix = fixes.rewrite_expression(rel, loc[1:], text, lambda n: fixes.add_keyword(n, "dim", "1"),
                                               "add dim=1")
                node = None
                for op in ctx.nodes("op"):
                    if op.span.path == rel and op.span.line <= call.lineno <= op.span.end_line and op.get("op") in (
                            "softmax", "log_softmax", "softmin"):
                        node = op.id
                msg = (f"{head or nm}() without dim: the implicit dimension is deprecated and is dim 0 for "
                       f"1-D/3-D inputs; pass dim explicitly (dim=1 for (batch, classes))")
                yield self.finding(ctx, loc, msg, node=node, fix=fix)
