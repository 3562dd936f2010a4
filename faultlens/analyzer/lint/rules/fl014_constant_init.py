"""FL014: constant or zero initialisation of weight matrices."""
from __future__ import annotations

import ast

from faultlens.analyzer.lint import fixes
from faultlens.analyzer.lint.base import Invalid, LintRule, Valid
from faultlens.analyzer.lint.facts import call_name, dotted
from faultlens.taxonomy import AFFINE_LAYERS

_CONST_FNS = {"constant_", "zeros_", "ones_", "fill_", "zero_", "eye_", "dirac_"}
_NORM = ("BatchNorm", "LayerNorm", "GroupNorm", "InstanceNorm", "Norm")


class ConstantInit(LintRule):
    code = "FL014"
    name = "constant-weight-init"
    severity = "error"
    fault_type = "weight_initialization"
    summary = "weights of Linear/Conv layers initialised to a constant (zeros, ones, fill_)"
    rationale = ("All units of a layer initialised to the same value compute the same output and "
                 "receive the same gradient, so they stay identical (the symmetry problem, Goodfellow "
                 "et al. 2016, §8.4); all-zero weights of a hidden layer also block the gradient to "
                 "earlier layers. Biases and normalisation weights may be constant.")
    fix_summary = "use nn.init.xavier_uniform_ (or kaiming) on the weight"
    INVALID = [
        Invalid("""
            import torch
            import torch.nn as nn

            model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 2))
            with torch.no_grad():
                for p in model.parameters():
                    nn.init.constant_(p, 0.5)
            """, line=7, note="every parameter constant"),
        Invalid("""
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(20, 64)
                    self.fc2 = nn.Linear(64, 2)
                    nn.init.zeros_(self.fc1.weight)

                def forward(self, x):
                    return self.fc2(self.fc1(x).relu())

            model = Net()
            """, line=8, fixed="""
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(20, 64)
                    self.fc2 = nn.Linear(64, 2)
                    nn.init.xavier_uniform_(self.fc1.weight)

                def forward(self, x):
                    return self.fc2(self.fc1(x).relu())

            model = Net()
            """),
        Invalid("""
            import torch.nn as nn

            def init_weights(m):
                if isinstance(m, nn.Linear):
                    nn.init.constant_(m.weight, 0.5)
                    nn.init.zeros_(m.bias)

            model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 2))
            model.apply(init_weights)
            """, line=5),
        Invalid("""
            import torch.nn as nn

            model = nn.Sequential(nn.Linear(64, 128), nn.Tanh(), nn.Linear(128, 10))
            for layer in model:
                if isinstance(layer, nn.Linear):
                    nn.init.constant_(layer.weight, 0.05)
                    nn.init.zeros_(layer.bias)
            """, line=6, note="a loop over the model's layers"),
    ]
    VALID = [
        Valid("""
            import torch
            import torch.nn as nn

            model = nn.Linear(30, 1)
            with torch.no_grad():
                for p in model.parameters():
                    nn.init.zeros_(p)
            """, note="zero init of logistic regression is fine"),
        Valid("""
            import torch.nn as nn

            def init_weights(m):
                if isinstance(m, nn.Linear):
                    nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                    nn.init.zeros_(m.bias)
                elif isinstance(m, nn.BatchNorm1d):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)

            model = nn.Sequential(nn.Linear(20, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 2))
            model.apply(init_weights)
            """),
        Valid("""
            import torch.nn as nn

            model = nn.Linear(30, 1)
            nn.init.zeros_(model.weight)
            """, note="a single linear layer (logistic regression) has no hidden units to keep symmetric"),
    ]

    def check(self, ctx):
        for init in ctx.nodes("init"):
            fn = init.get("fn")
            if fn not in _CONST_FNS:
                continue
            target = init.get("target") or ""
            rel = init.span.path
            facts = ctx.facts(rel)
            if facts is None:
                continue
            call = self._call(facts, init, fn)
            if target.isidentifier() and call is not None:
                owner = self._all_parameters_of(ctx, facts, call, target)
                if owner is not None:
                    what = "zero" if fn in ("zeros_", "zero_") or init.get("value") == 0 else "constant"
                    msg = (f"every parameter of {owner} is set to a {what} ({fn} in a loop over "
                           f"{owner}.parameters()): all units of each layer start identical and get the same "
                           f"gradient; keep the default init or use kaiming/xavier on the weights")
                    yield self.finding(ctx, ctx.ast_location(rel, call), msg, node=init.id)
                continue
            if ".weight" not in f".{target}" or ".bias" in target:
                continue
            if call is not None and self._guarded_by_norm(facts, call):
                continue
            layer_type, single = self._layer(ctx, init, target)
            if layer_type is None and call is not None:
                layer_type, single = self._applied(ctx, facts, call, target)
            if layer_type is None or layer_type not in AFFINE_LAYERS or single:
                continue
            value = init.get("value")
            what = "zero" if fn in ("zeros_", "zero_") or value == 0 else "constant"
            fix = None
            if call is not None and fn in ("zeros_", "ones_", "constant_") and isinstance(call.func, ast.Attribute):
                prefix = dotted(call.func.value)
                if prefix and call.args:
                    loc = ctx.ast_location(rel, call)
                    targ = facts.text(call.args[0])
                    fix = fixes.rewrite_expression(
                        rel, loc[1:], facts.segment(*loc[1:]),
                        lambda n: __import__("libcst").parse_expression(f"{prefix}.xavier_uniform_({targ})"),
                        "initialise with xavier_uniform_")
            where = ctx.ast_location(rel, call) if call is not None else init
            msg = (f"{target} is initialised to a {what} ({fn}): every unit of the layer starts identical "
                   f"and gets the same gradient; use a random init (kaiming/xavier)")
            yield self.finding(ctx, where, msg, node=init.id, fix=fix)

    @staticmethod
    def _all_parameters_of(ctx, facts, call, target):
        """``for p in model.parameters(): init.constant_(p, c)`` -> ``"model"`` when that model
        has at least two Linear/Conv layers (hidden units to keep symmetric)."""
        node = facts.parent.get(call)
        while node is not None and not isinstance(node, (ast.FunctionDef, ast.Module)):
            if isinstance(node, ast.If) and "bias" in facts.text(node.test) and "weight" not in facts.text(node.test):
                return None
            if isinstance(node, ast.For):
                names = {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
                it = facts.text(node.iter)
                if target in names and (it.endswith(".parameters()") or it.endswith(".named_parameters()")):
                    var = it.rsplit(".", 1)[0]
                    for m in ctx.nodes("model"):
                        if m.get("var") != var:
                            continue
                        cls = ctx.model_class(m)
                        if cls is not None and cls.kind == "module_class":
                            layers = ctx.class_layers(cls.id)
                        else:
                            layers = ctx.sequential_children(m)
                        kind = (m.get("model_type") or str(m.get("class") or "")).rsplit(".", 1)[-1]
                        n_affine = sum(1 for l in layers if l.get("layer_type") in AFFINE_LAYERS) + (kind in AFFINE_LAYERS)
                        return var if n_affine >= 2 else None
                    return None
            node = facts.parent.get(node)
        return None

    @staticmethod
    def _call(facts, init, fn):
        for c in facts.calls_between(init.span.line, init.span.end_line):
            if call_name(c) == fn:
                return c
        return None

    @staticmethod
    def _guarded_by_norm(facts, call) -> bool:
        node = facts.parent.get(call)
        while node is not None and not isinstance(node, (ast.FunctionDef, ast.Module)):
            if isinstance(node, ast.If):
                test = facts.text(node.test)
                inside_body = any(call in ast.walk(s) for s in node.body)
                if "isinstance" in test and inside_body:
                    return any(n in test for n in _NORM) and not any(a in test for a in AFFINE_LAYERS)
            node = facts.parent.get(node)
        return False

    @staticmethod
    def _layer(ctx, init, target):
        """(layer type or None, whether it is a single-layer model) for ``self.fc1.weight``,
        ``model.fc1.weight``, ``model[0].weight`` and ``model.weight`` targets."""
        parts = [p for p in target.replace("[", ".").replace("]", "").split(".") if p]
        if parts and parts[-1] == "data":
            parts = parts[:-1]
        if len(parts) >= 3 and parts[-1] == "weight":
            attr = parts[-2]
            owner = init.get("owner")
            for lay in ctx.nodes("layer"):
                if (lay.get("attr") == attr or lay.get("module_path") == attr) and (
                        owner is None or lay.get("owner") == owner or parts[0] != "self"):
                    return lay.get("layer_type"), False
        if len(parts) == 2 and parts[0] != "self":
            for m in ctx.nodes("model"):
                if m.get("var") == parts[0]:
                    kind = (m.get("model_type") or str(m.get("class") or "")).rsplit(".", 1)[-1]
                    if kind in AFFINE_LAYERS:
                        return kind, True
        return None, False

    @staticmethod
    def _applied(ctx, facts, call, target):
        """``m.weight`` where ``m`` is the parameter of an init function: the layer types the
        function applies to (its isinstance guard, else every affine layer); a single-layer
        model counts as single."""
        parts = target.split(".")
        if len(parts) != 2 or parts[1] != "weight" or parts[0] in ("self", "cls"):
            return None, False
        fn = facts.enclosing_function(call)
        loop_over = ConstantInit._module_loop(facts, call, parts[0])
        if loop_over is None:
            if fn is None or parts[0] not in [a.arg for a in fn.args.args]:
                return None, False
        node = facts.parent.get(call)
        stop = fn if loop_over is None else loop_over
        while node is not None and node is not stop:
            if isinstance(node, ast.If) and "isinstance" in facts.text(node.test) and any(
                    call in ast.walk(s) for s in node.body):
                test = facts.text(node.test)
                hit = next((a for a in AFFINE_LAYERS if a in test), None)
                break
            node = facts.parent.get(node)
        else:
            hit = "Linear" if "classname" not in facts.text(fn) else None
        affine = [l for l in ctx.nodes("layer") if l.get("layer_type") in AFFINE_LAYERS]
        if hit is None:
            return None, False
        return hit, len(affine) <= 1

    @staticmethod
    def _module_loop(facts, call, name):
        """The ``for name in model`` / ``model.modules()`` / ``model.children()`` loop around
        the call, or None."""
        node = facts.parent.get(call)
        while node is not None and not isinstance(node, (ast.FunctionDef, ast.Module)):
            if isinstance(node, ast.For) and isinstance(node.target, ast.Name) and node.target.id == name:
                it = facts.text(node.iter)
                if isinstance(node.iter, (ast.Name, ast.Attribute)) or it.endswith(
                        (".modules()", ".children()")):
                    return node
                return None
            node = facts.parent.get(node)
        return None
