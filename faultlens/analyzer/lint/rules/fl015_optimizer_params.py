"""FL015: optimizer given the parameters of another model, or only a subset by mistake."""
from __future__ import annotations

from faultlens.analyzer.lint import fixes
from faultlens.analyzer.lint.base import Invalid, LintRule, Valid
from faultlens.analyzer.lint.context import span_tuple
from faultlens.analyzer.lint.finding import Edit, Fix
from faultlens.analyzer.lint.rules._loops import model_of_call


class OptimizerWrongParameters(LintRule):
    code = "FL015"
    name = "optimizer-wrong-parameters"
    severity = "error"
    fault_type = "optimizer"
    summary = "optimizer updates parameters of a model that is not trained, or only a sub-module"
    rationale = ("The optimizer only updates the tensors it was given. Parameters of a different "
                 "model (a copy, a teacher, a model rebuilt after the optimizer was made) leave the "
                 "trained model unchanged: the loss stays flat. A sub-module's parameters (model.fc) "
                 "freeze everything else, which is only intended when the rest is frozen "
                 "(requires_grad=False).")
    fix_summary = "pass <trained model>.parameters()"
    INVALID = [
        Invalid("""
            import copy
            import torch
            import torch.nn as nn

            model = nn.Linear(10, 2)
            ema = copy.deepcopy(model)
            optimizer = torch.optim.SGD(ema.parameters(), lr=0.1)
            x, y = torch.randn(32, 10), torch.randint(0, 2, (32,))
            for epoch in range(20):
                optimizer.zero_grad()
                loss = nn.functional.cross_entropy(model(x), y)
                loss.backward()
                optimizer.step()
            """, line=7, fixed="""
            import copy
            import torch
            import torch.nn as nn

            model = nn.Linear(10, 2)
            ema = copy.deepcopy(model)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(32, 10), torch.randint(0, 2, (32,))
            for epoch in range(20):
                optimizer.zero_grad()
                loss = nn.functional.cross_entropy(model(x), y)
                loss.backward()
                optimizer.step()
            """),
        Invalid("""
            import torch
            import torch.nn as nn

            teacher = nn.Linear(10, 2)
            student = nn.Linear(10, 2)
            optimizer = torch.optim.Adam(teacher.parameters(), lr=1e-3)
            x, y = torch.randn(32, 10), torch.randint(0, 2, (32,))
            for epoch in range(5):
                optimizer.zero_grad()
                loss = nn.functional.cross_entropy(student(x), y)
                loss.backward()
                optimizer.step()
            """, line=6, note="the optimizer holds another model's parameters"),
        Invalid("""
            import torch
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.body = nn.Linear(10, 16)
                    self.head = nn.Linear(16, 2)

                def forward(self, x):
                    return self.head(torch.relu(self.body(x)))

            model = Net()
            optimizer = torch.optim.SGD(model.head.parameters(), lr=0.1)
            x, y = torch.randn(32, 10), torch.randint(0, 2, (32,))
            for epoch in range(5):
                optimizer.zero_grad()
                loss = nn.functional.cross_entropy(model(x), y)
                loss.backward()
                optimizer.step()
            """, line=14, note="only the head is optimized, nothing is frozen (warning)"),
    ]
    VALID = [
        Valid("""
            import torch
            import torch.nn as nn

            netD, netG = nn.Linear(4, 1), nn.Linear(2, 4)
            optD = torch.optim.Adam(netD.parameters(), lr=2e-4)
            optG = torch.optim.Adam(netG.parameters(), lr=2e-4)
            bce = nn.BCEWithLogitsLoss()
            for it in range(10):
                fake = netG(torch.randn(8, 2))
                optD.zero_grad()
                lossD = bce(netD(fake.detach()), torch.zeros(8, 1))
                lossD.backward()
                optD.step()
                optG.zero_grad()
                lossG = bce(netD(fake), torch.ones(8, 1))
                lossG.backward()
                optG.step()
            """),
        Valid("""
            import torch
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.body = nn.Linear(10, 16)
                    self.head = nn.Linear(16, 2)

                def forward(self, x):
                    return self.head(torch.relu(self.body(x)))

            model = Net()
            for p in model.body.parameters():
                p.requires_grad = False
            optimizer = torch.optim.SGD(model.head.parameters(), lr=0.1)
            x, y = torch.randn(32, 10), torch.randint(0, 2, (32,))
            for epoch in range(5):
                optimizer.zero_grad()
                loss = nn.functional.cross_entropy(model(x), y)
                loss.backward()
                optimizer.step()
            """, note="fine-tuning a head with the body frozen"),
    ]

    def check(self, ctx):
        trained = self._trained_models(ctx)
        for opt in ctx.optimizers():
            kind = opt.get("params_kind")
            target = ctx.node(opt.get("params_model"))
            copied = None
            if kind in ("unknown", None) and trained:
                copied = self._copied_model(ctx, opt, trained)
                if copied is not None:
                    kind = "other_model"
            if kind == "other_model":
                others = [m for m in trained if target is None or m.id != target.id]
                name = copied or (target.get("var") if target is not None else None) or opt.get("params_source") or "?"
                fix = None
                if len(others) == 1 and others[0].get("var") and (
                        target is None or others[0].get("var") != target.get("var")):
                    fix = self._params_fix(ctx, opt, f"{others[0].get('var')}.parameters()")
                used = ", ".join(sorted({m.get('var') or m.name for m in others})) or "another model"
                if target is not None and any(m.get("var") == target.get("var") for m in others):
                    # the same variable rebound (model rebuilt after the optimizer was made)
                    name = f"{name} as built on line {target.span.line}"
                    used = ", ".join(f"{m.get('var') or m.name} as rebuilt on line {m.span.line}" for m in others)
                msg = (f"{opt.get('var') or 'optimizer'} updates the parameters of {name}, but the loss is "
                       f"computed with {used}: the trained model never changes")
                yield self.finding(ctx, self._where(opt), msg, node=opt.id, fix=fix)
            elif kind == "subset":
                facts = ctx.facts(opt.span.path)
                if facts is not None and facts.freezes_parameters():
                    continue
                if any(facts2 is not None and facts2.freezes_parameters()
                       for facts2 in (ctx.facts(r) for r in (getattr(ctx.graph, "files", []) or []))):
                    continue
                src = opt.get("params_source") or "a subset"
                model = ctx.node(opt.get("params_model"))
                fix = None
                if model is not None and model.get("var") and len(ctx.optimizers()) == 1:
                    fix = self._params_fix(ctx, opt, f"{model.get('var')}.parameters()")
                msg = (f"{opt.get('var') or 'optimizer'} only receives {src}: the rest of the model keeps "
                       f"its initial weights although it is not frozen (requires_grad stays True)")
                yield self.finding(ctx, self._where(opt), msg, node=opt.id, fix=fix, severity="warning")

    @staticmethod
    def _copied_model(ctx, opt, trained):
        """Local helper for what the graph leaves unresolved: ``X.parameters()`` where ``X =
        copy.deepcopy(model)`` (or a fresh local module instance) is never run forward."""
        import ast

        src = (opt.get("params_source") or "").strip()
        if not src.endswith(".parameters()"):
            return None
        var = src[: -len(".parameters()")]
        if not var.isidentifier() or any(m.get("var") == var for m in trained):
            return None
        facts = ctx.facts(opt.span.path)
        if facts is None:
            return None
        found = facts.assignment_before(var, opt.span.line, facts.enclosing_function(opt.span.line))
        if found is None or not isinstance(found[0], ast.Call):
            return None
        callee = facts.text(found[0].func)
        if callee not in ("copy.deepcopy", "deepcopy"):
            return None
        if any(isinstance(c.func, ast.Name) and c.func.id == var for c in facts.calls):
            return None  # it is run forward somewhere (e.g. an EMA teacher used for targets)
        return var

    @staticmethod
    def _where(opt):
        t = span_tuple((opt.get("arg_spans") or {}).get("0") or (opt.get("arg_spans") or {}).get("params"))
        return t or opt

    @staticmethod
    def _params_fix(ctx, opt, code):
        t = span_tuple((opt.get("arg_spans") or {}).get("0") or (opt.get("arg_spans") or {}).get("params"))
        if t is None:
            return None
        return Fix(f"optimize {code}", (Edit(t[0], *t[1:], fixes.render(__import__("libcst").parse_expression(code))),))

    @staticmethod
    def _trained_models(ctx):
        """Models whose forward output reaches a back-propagated loss."""
        out = {}
        for fwd in ctx.calls("forward"):
            if not ctx.graph.successors(fwd.id, "feeds"):
                continue
            m = model_of_call(ctx, fwd)
            if m is not None:
                out[m.id] = m
        return list(out.values())
