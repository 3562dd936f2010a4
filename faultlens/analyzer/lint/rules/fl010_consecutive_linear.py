"""FL010: two linear/conv layers composed with no nonlinearity between them."""
from __future__ import annotations

import ast

from faultlens.analyzer.lint.base import Invalid, LintRule, Valid
from faultlens.analyzer.lint.context import span_tuple
from faultlens.analyzer.lint.facts import PASSTHROUGH_METHODS, call_name
from faultlens.taxonomy import AFFINE_LAYERS

#: layers that keep the composition affine (shape changes, dropout, normalisation)
_LINEAR_TRANSPARENT = {"Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "Flatten", "Unflatten", "Identity",
                       "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "GroupNorm"}
_LINEAR_OPS = set(PASSTHROUGH_METHODS) | {"dropout", "flatten"}


def span_line(node) -> int:
    t = span_tuple(node.get("expr_span")) or span_tuple(node.span)
    return t[1]


class ConsecutiveLinear(LintRule):
    code = "FL010"
    name = "consecutive-linear-layers"
    severity = "warning"
    fault_type = "activation"
    summary = "two Linear/Conv layers applied back to back with no nonlinearity between them"
    rationale = ("A composition of affine maps is affine: W2(W1 x + b1) + b2 = W x + b. The extra "
                 "layer adds parameters but no capacity, a frequent 'missing activation' fault "
                 "(DeepDiagnosis/DeepFD fault category 'activation').")
    fix_summary = ""
    INVALID = [
        Invalid("""
            import torch
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(64, 128)
                    self.fc2 = nn.Linear(128, 10)

                def forward(self, x):
                    x = self.fc1(x)
                    return self.fc2(x)

            model = Net()
            """, line=12),
        Invalid("""
            import torch
            from torch import nn

            model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.Dropout(0.1), nn.Linear(32, 10))
            """, line=4),
        Invalid("""
            import torch.nn as nn

            class Regressor(nn.Module):
                def __init__(self, d_in, width=16):
                    super().__init__()
                    self.body = nn.Sequential(nn.Linear(d_in, width), nn.ReLU(), nn.Linear(width, width))
                    self.head = nn.Linear(width, 1)

                def forward(self, x):
                    return self.head(self.body(x)).squeeze(1)

            model = Regressor(8)
            """, line=10, note="a Sequential ending in Linear, then another Linear"),
    ]
    VALID = [
        Valid("""
            import torch.nn as nn

            class Head(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.act = nn.ReLU()
                    self.out = nn.Sequential(nn.Linear(8, 8), self.act, nn.Linear(8, 2))

                def forward(self, x):
                    return self.out(x)

            model = Head()
            """, note="a shared activation module between the layers"),
        Valid("""
            import torch
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(64, 128)
                    self.fc2 = nn.Linear(128, 10)

                def forward(self, x):
                    return self.fc2(F.relu(self.fc1(x)))

            model = Net()
            """),
        Valid("""
            import torch
            import torch.nn as nn

            class TwoHeads(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.body = nn.Linear(8, 16)
                    self.head_a = nn.Linear(16, 2)
                    self.head_b = nn.Linear(16, 3)

                def forward(self, x):
                    h = torch.tanh(self.body(x))
                    return self.head_a(h), self.head_b(h)

            model = TwoHeads()
            """, note="parallel heads are not a composition"),
    ]

    def check(self, ctx):
        reported = set()
        # Sequential containers: consecutive constructor arguments (read from the call itself,
        # so that entries the graph does not model, e.g. a shared ``self.relu``, break a pair)
        for seq in ctx.containers():
            kids = {k.get("module_path") or k.get("attr"): k for k in ctx.sequential_children(seq)}
            call = self._container_call(ctx, seq)
            if call is None:
                continue
            rel = seq.span.path
            prev = None
            for i, arg in enumerate(call.args):
                kind = call_name(arg) if isinstance(arg, ast.Call) and not isinstance(arg.func, ast.Call) else None
                if kind in AFFINE_LAYERS:
                    if prev is not None:
                        key = (rel, arg.lineno, arg.col_offset)
                        if key not in reported:
                            reported.add(key)
                            child = next((k for k in ctx.sequential_children(seq)
                                          if k.span.path == rel and k.get("layer_type") == kind
                                          and span_line(k) == arg.lineno), None)
                            msg = (f"{kind} (argument {i} of {seq.name}) is applied directly to the output of "
                                   f"{prev[0]} (argument {prev[1]}) with no nonlinearity between: the two collapse "
                                   f"into one affine map (add an activation such as ReLU)")
                            yield self.finding(ctx, ctx.ast_location(rel, arg), msg,
                                               node=child.id if child is not None else seq.id)
                    prev = (kind, i)
                elif kind in _LINEAR_TRANSPARENT:
                    continue
                else:
                    prev = None
        # forward methods: self.B(<...self.A(...)...>) through transparent steps
        for cls in ctx.nodes("module_class"):
            layers = {l.get("attr"): l for l in ctx.nodes("layer", owner=cls.id)
                      if l.get("attr") and not l.get("parent")}
            affine = {a: l for a, l in layers.items() if l.get("layer_type") in AFFINE_LAYERS}
            if not affine:
                continue
            facts = ctx.facts(cls.span.path)
            if facts is None:
                continue
            fwd = next((f for f in facts.functions if getattr(f, "name", "") == "forward"
                        and cls.span.line <= f.lineno <= cls.span.end_line), None)
            if fwd is None:
                continue
            for call in facts.calls_between(fwd.lineno, fwd.end_lineno or fwd.lineno):
                attr = self._self_attr(call)
                if attr not in affine or not call.args:
                    continue
                src = self._source_layer(facts, call.args[0], call.lineno, fwd, layers, 0, ctx)
                if src is not None and src in layers and src != attr:
                    lay = affine[attr]
                    key = (cls.id, attr)
                    if key in reported:
                        continue
                    reported.add(key)
                    yield self.finding(ctx, ctx.ast_location(cls.span.path, call), self._msg(layers[src], lay), node=lay.id)

    @staticmethod
    def _container_call(ctx, seq):
        facts = ctx.facts(seq.span.path)
        if facts is None:
            return None
        t = span_tuple(seq.get("expr_span"))
        cands = list(facts.calls_between(seq.span.line, seq.span.end_line))
        if t is not None:
            hit = next((c for c in cands if facts.pos(c) == t[1:] and call_name(c) == "Sequential"), None)
            if hit is not None:
                return hit
        seqs = [c for c in cands if call_name(c) == "Sequential"]
        if len(seqs) == 1:
            return seqs[0]
        if not seqs:
            # a model built elsewhere (``model = build_model()`` returning ``nn.Sequential``):
            # the container call is where its children are created
            kids = ctx.sequential_children(seq)
            if kids and kids[0].span.path == seq.span.path:
                k = kids[0]
                kt = span_tuple(k.get("expr_span")) or span_tuple(k.span)
                around = [c for c in facts.calls_between(k.span.line, k.span.end_line) if call_name(c) == "Sequential"
                          and (c.lineno, c.col_offset) <= (kt[1], kt[2] - 1) and (c.end_lineno or c.lineno) >= kt[3]]
                if around:
                    return max(around, key=lambda c: (c.lineno, c.col_offset))
        return None

    @staticmethod
    def _msg(a, b) -> str:
        name_a = a.get("module_path") or a.get("attr") or a.name
        name_b = b.get("module_path") or b.get("attr") or b.name
        src = (f"{name_a} (a Sequential ending in a linear layer)" if a.get("layer_type") == "Sequential"
               else f"{a.get('layer_type')} {name_a}")
        return (f"{b.get('layer_type')} {name_b} is applied directly to the output of "
                f"{src} with no nonlinearity between: the two collapse into "
                f"one affine map (add an activation such as ReLU)")

    @staticmethod
    def _self_attr(call: ast.Call) -> str | None:
        f = call.func
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "self":
            return f.attr
        return None

    def _source_layer(self, facts, expr, line, fn, layers, depth, ctx=None) -> str | None:
        """The affine layer attr whose output ``expr`` is, through transparent steps."""
        if depth > 8 or expr is None:
            return None
        if isinstance(expr, ast.Name):
            found = facts.assignment_before(expr.id, line, fn)
            if found is None:
                return None
            value, stmt = found
            if isinstance(stmt, ast.AugAssign):
                return None
            return self._source_layer(facts, value, stmt.lineno, fn, layers, depth + 1, ctx)
        if isinstance(expr, ast.Call):
            attr = self._self_attr(expr)
            if attr is not None and attr in layers:
                lt = layers[attr].get("layer_type")
                if lt in AFFINE_LAYERS:
                    return attr
                if lt in _LINEAR_TRANSPARENT and expr.args:
                    return self._source_layer(facts, expr.args[0], line, fn, layers, depth + 1, ctx)
                if lt == "Sequential" and ctx is not None:
                    # a container whose last non-transparent child is Linear/Conv ends affine
                    for kid in reversed(ctx.sequential_children(layers[attr])):
                        kt = kid.get("layer_type")
                        if kt in _LINEAR_TRANSPARENT:
                            continue
                        return attr if kt in AFFINE_LAYERS else None
                return None
            nm = call_name(expr)
            if nm in _LINEAR_OPS:
                if isinstance(expr.func, ast.Attribute) and nm in PASSTHROUGH_METHODS and not expr.args[:0]:
                    base = expr.func.value
                    if not (isinstance(base, ast.Name) and base.id in ("torch", "F")):
                        return self._source_layer(facts, base, line, fn, layers, depth + 1, ctx)
                if expr.args:
                    return self._source_layer(facts, expr.args[0], line, fn, layers, depth + 1, ctx)
        return None
