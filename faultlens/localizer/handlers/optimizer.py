"""optimizer: the optimizer's construction; its parameters or momentum.

Located: the construction of the flagged optimizer(s) (else the graph's, at most two).
Patched: an optimizer over a parameter subset or another model's parameters ->
``model.parameters()``; plain SGD without momentum -> ``momentum=0.9``.
"""
from __future__ import annotations

import ast

from faultlens.localizer import Collector, resolve_path
from faultlens.localizer import source as src
from faultlens.localizer.edits import AddKwarg, ReplaceExpr
from faultlens.localizer.handlers._base import EditPlan, Example, FaultHandler
from faultlens.localizer.handlers._common import optimizers_that_ran, var_name
from faultlens.localizer.patches import CommandLine


class Optimizer(FaultHandler):
    fault_type = "optimizer"
    summary = "the optimizer's construction; all of the model's parameters, or momentum=0.9 for plain SGD"
    EXAMPLES: list[Example] = []

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
