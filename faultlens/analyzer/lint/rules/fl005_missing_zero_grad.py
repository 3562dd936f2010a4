"""FL005: a training loop that calls backward() and step() but never clears gradients."""
from __future__ import annotations

from faultlens.analyzer.lint import fixes
from faultlens.analyzer.lint.base import Invalid, LintRule, Valid
from faultlens.analyzer.lint.rules._loops import (
    body_lines, calls_in_loop, is_distributed_backward, model_of_call, model_of_optimizer, optimizer_of, optimizer_steps,
    step_has_closure, stmt_indent,
)


class MissingZeroGrad(LintRule):
    code = "FL005"
    name = "missing-zero-grad"
    severity = "error"
    fault_type = "training_loop"
    summary = "loop calls backward() and optimizer.step() but never zero_grad(): gradients accumulate"
    rationale = ("PyTorch accumulates .grad across backward() calls (autograd docs); without "
                 "optimizer.zero_grad() / model.zero_grad() / p.grad = None each step applies the "
                 "sum of all past gradients, so the effective step grows every iteration and "
                 "training diverges or oscillates. Accepted: zero_grad on the optimizer or on the "
                 "model it updates (set_to_none too), inside a closure (LBFGS), conditional "
                 "zeroing for gradient accumulation, manual p.grad = None / p.grad.zero_().")
    fix_summary = "insert optimizer.zero_grad() before the backward() call"
    INVALID = [
        Invalid("""
            import torch
            import torch.nn as nn

            model = nn.Linear(10, 2)
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(32, 10), torch.randint(0, 2, (32,))
            for epoch in range(20):
                out = model(x)
                loss = criterion(out, y)
                loss.backward()
                optimizer.step()
            """, line=11, fixed="""
            import torch
            import torch.nn as nn

            model = nn.Linear(10, 2)
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(32, 10), torch.randint(0, 2, (32,))
            for epoch in range(20):
                out = model(x)
                loss = criterion(out, y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            """),
        Invalid("""
            import torch
            import torch.nn as nn

            netD, netG = nn.Linear(4, 1), nn.Linear(2, 4)
            optD = torch.optim.Adam(netD.parameters(), lr=2e-4)
            optG = torch.optim.Adam(netG.parameters(), lr=2e-4)
            bce = nn.BCEWithLogitsLoss()
            for it in range(100):
                real, z = torch.randn(8, 4), torch.randn(8, 2)
                fake = netG(z)
                netD.zero_grad()
                lossD = bce(netD(real), torch.ones(8, 1)) + bce(netD(fake.detach()), torch.zeros(8, 1))
                lossD.backward()
                optD.step()
                lossG = bce(netD(fake), torch.ones(8, 1))
                lossG.backward()
                optG.step()
            """, line=16, note="GAN loop: the generator optimizer is never zeroed"),
        Invalid("""
            import torch
            import torch.nn as nn

            model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
            x, y = torch.randn(64, 2), torch.randn(64, 1)
            for epoch in range(50):
                loss = ((model(x) - y) ** 2).mean()
                loss.backward()
                with torch.no_grad():
                    for p in model.parameters():
                        p.data.add_(p.grad, alpha=-0.1)
            """, line=8, fixed="""
            import torch
            import torch.nn as nn

            model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
            x, y = torch.randn(64, 2), torch.randn(64, 1)
            for epoch in range(50):
                loss = ((model(x) - y) ** 2).mean()
                model.zero_grad()
                loss.backward()
                with torch.no_grad():
                    for p in model.parameters():
                        p.data.add_(p.grad, alpha=-0.1)
            """, note="manual SGD without clearing .grad"),
        Invalid("""
            import torch
            import torch.nn as nn

            model = nn.Linear(3, 1)
            optimizer = torch.optim.LBFGS(model.parameters(), lr=1)
            x, y = torch.randn(20, 3), torch.randn(20, 1)

            def closure():
                loss = ((model(x) - y) ** 2).mean()
                loss.backward()
                return loss

            for it in range(10):
                optimizer.step(closure)
            """, line=10, note="LBFGS closure that never zeroes"),
        Invalid("""
            import torch
            import torch.nn as nn

            model = nn.Linear(4, 1)
            x, y = torch.randn(16, 4), torch.randn(16, 1)
            for it in range(10):
                model = model.to("cpu")
                optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
                loss = ((model(x) - y) ** 2).mean()
                loss.backward()
                optimizer.step()
            """, line=10, note="moving the same model is not a fresh one (nor is a new optimizer)"),
    ]
    VALID = [
        Valid("""
            import torch
            import torch.nn as nn

            model = nn.Linear(10, 2)
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(32, 10), torch.randint(0, 2, (32,))
            for epoch in range(20):
                model.zero_grad(set_to_none=True)
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """, note="model.zero_grad(set_to_none=True)"),
        Valid("""
            import torch
            import torch.nn as nn

            model = nn.Linear(10, 2)
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            batches = [(torch.randn(8, 10), torch.randint(0, 2, (8,))) for _ in range(8)]
            accum = 4
            for epoch in range(5):
                for i, (xb, yb) in enumerate(batches):
                    loss = criterion(model(xb), yb) / accum
                    loss.backward()
                    if (i + 1) % accum == 0:
                        optimizer.step()
                        optimizer.zero_grad()
            """, note="gradient accumulation"),
        Valid("""
            import torch
            import torch.nn as nn

            model = nn.Linear(3, 1)
            optimizer = torch.optim.LBFGS(model.parameters(), lr=1)
            x, y = torch.randn(20, 3), torch.randn(20, 1)
            for it in range(10):
                def closure():
                    optimizer.zero_grad()
                    loss = ((model(x) - y) ** 2).mean()
                    loss.backward()
                    return loss
                optimizer.step(closure)
            """, note="LBFGS closure"),
        Valid("""
            import torch
            import torch.nn as nn

            netD, netG = nn.Linear(4, 1), nn.Linear(2, 4)
            optD = torch.optim.Adam(netD.parameters(), lr=2e-4)
            optG = torch.optim.Adam(netG.parameters(), lr=2e-4)
            bce = nn.BCEWithLogitsLoss()
            for it in range(100):
                real, z = torch.randn(8, 4), torch.randn(8, 2)
                fake = netG(z)
                netD.zero_grad()
                lossD = bce(netD(real), torch.ones(8, 1)) + bce(netD(fake.detach()), torch.zeros(8, 1))
                lossD.backward()
                optD.step()
                netG.zero_grad()
                lossG = bce(netD(fake), torch.ones(8, 1))
                lossG.backward()
                optG.step()
            """, note="GAN with two optimizers, zeroed through the models"),
        Valid("""
            import torch

            w = torch.randn(5, requires_grad=True)
            opt = torch.optim.SGD([w], lr=0.1)
            for step in range(10):
                loss = (w ** 2).sum()
                loss.backward()
                opt.step()
                w.grad = None
            """, note="manual p.grad = None"),
        Valid("""
            import torch
            import torch.nn as nn

            weights = [torch.randn(4, 1) for _ in range(3)]
            x, y = torch.randn(16, 4), torch.randn(16, 1)
            for it in range(3):
                model = nn.Linear(4, 1, bias=False)
                with torch.no_grad():
                    model.weight.copy_(weights[it].t())
                optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
                loss = ((model(x) - y) ** 2).mean()
                loss.backward()
                optimizer.step()
                weights[it] = model.weight.detach().t()
            """, note="a fresh model each iteration (parameter-server worker): its .grad starts at None"),
        Valid("""
            import torch

            x, y = torch.randn(16, 4), torch.randn(16, 1)
            for trial in range(5):
                w = torch.zeros(4, 1, requires_grad=True)
                loss = ((x @ w - y) ** 2).mean()
                loss.backward()
                with torch.no_grad():
                    w -= 0.1 * w.grad
            """, note="a fresh leaf tensor each iteration"),
    ]

    def check(self, ctx):
        yield from self._closure_steps(ctx)
        loops = {}
        for step in ctx.calls("step"):
            if step.get("in_closure"):
                continue
            # the innermost enclosing loop that back-propagates (a manual update's own
            # ``for p in model.parameters()`` loop does not)
            lid = next((l for l in reversed(step.get("loops") or []) if calls_in_loop(ctx, l, "backward")),
                       step.get("loop"))
            if lid:
                loops.setdefault(lid, []).append(step)
        for lid, steps in loops.items():
            loop = ctx.node(lid)
            if loop is None:
                continue
            steps = optimizer_steps(ctx, steps)
            backward = [b for b in calls_in_loop(ctx, lid, "backward") if not is_distributed_backward(b)]
            if not steps or not backward:
                continue
            zeros = calls_in_loop(ctx, lid, "zero_grad")
            if any(step_has_closure(ctx, s) for s in steps):
                zeros += [z for z in ctx.calls("zero_grad") if z.get("in_closure")]
            line, eline = body_lines(ctx, loop)
            facts = ctx.facts(loop.span.path)
            if facts is not None and facts.manual_grad_zeroing(line, eline):
                continue
            reported = set()
            for s in steps:
                opt = optimizer_of(ctx, s)
                if self._zeroed(ctx, opt, zeros):
                    continue
                if self._fresh_each_iteration(ctx, loop, self._updated_names(ctx, s, opt)):
                    continue
                key = opt.id if opt is not None else s.get("receiver")
                if key in reported:
                    continue
                reported.add(key)
                before = [b for b in backward if (b.span.path, b.span.line) < (s.span.path, s.span.line)]
                bw = (max(before, key=lambda b: (b.span.line, b.span.column)) if before
                      else min(backward, key=lambda b: (b.span.line, b.span.column)))
                recv = s.get("receiver") or (opt.get("var") if opt is not None else "optimizer")
                if s.get("manual"):
                    owner = self._param_owner(ctx, s)
                    fix = None
                    if owner and bw.span.path == s.span.path and not bw.get("in_closure"):
                        fix = fixes.insert_line_before(bw.span.path, bw.span.line, stmt_indent(ctx, bw),
                                                       f"{owner}.zero_grad()", f"call {owner}.zero_grad() before backward()")
                    msg = ("this loop updates the parameters by hand from .grad (line "
                           f"{s.span.line}) but never clears the gradients ({owner or 'model'}.zero_grad() or "
                           "p.grad = None): each update uses the sum of all past gradients")
                    yield self.finding(ctx, bw, msg, node=s.id, fix=fix)
                    continue
                fix = None
                if recv and bw.span.path == s.span.path and not bw.get("in_closure"):
                    fix = fixes.insert_line_before(bw.span.path, bw.span.line, stmt_indent(ctx, bw),
                                                   f"{recv}.zero_grad()", f"call {recv}.zero_grad() before backward()")
                msg = (f"gradients are never cleared in this loop: {recv}.step() (line {s.span.line}) "
                       f"applies gradients accumulated over all iterations; call {recv}.zero_grad() "
                       f"each iteration")
                yield self.finding(ctx, bw, msg, node=s.id, fix=fix)
        yield from self._manual_updates(ctx, set(loops))

    def _closure_steps(self, ctx):
        """``optimizer.step(closure)`` in a loop whose closure back-propagates but never
        zeroes (the closure may be defined outside the loop)."""
        steps = [s for s in optimizer_steps(ctx, ctx.calls("step")) if s.get("loop") and step_has_closure(ctx, s)]
        if not steps:
            return
        closure_bw = [b for b in ctx.calls("backward") if b.get("in_closure")]
        closure_zero = [z for z in ctx.calls("zero_grad") if z.get("in_closure")]
        if not closure_bw or closure_zero:
            return
        for s in steps:
            if calls_in_loop(ctx, s.get("loop"), "zero_grad"):
                return
        facts = ctx.facts(closure_bw[0].span.path)
        if facts is not None:
            fn = facts.enclosing_function(closure_bw[0].span.line)
            if fn is not None and facts.manual_grad_zeroing(fn.lineno, fn.end_lineno or fn.lineno):
                return
        s = steps[0]
        bw = closure_bw[0]
        recv = s.get("receiver") or "optimizer"
        fix = fixes.insert_line_before(bw.span.path, bw.span.line, stmt_indent(ctx, bw),
                                       f"{recv}.zero_grad()", f"call {recv}.zero_grad() in the closure")
        msg = (f"the closure passed to {recv}.step() (line {s.span.line}) calls backward() without "
               f"{recv}.zero_grad(): every evaluation adds to the previous gradients")
        yield self.finding(ctx, bw, msg, node=s.id, fix=fix)

    def _manual_updates(self, ctx, stepped_loops):
        """A hand-written update (``p.data.add_(p.grad, alpha=-lr)``) in a loop that calls
        backward() but never clears .grad."""
        import ast

        for lid in {b.get("loop") for b in ctx.calls("backward") if b.get("loop") and not b.get("in_closure")}:
            loop = ctx.node(lid)
            if loop is None or lid in stepped_loops:
                continue
            if any(lid in (s.get("loops") or []) for s in optimizer_steps(ctx, ctx.calls("step"))):
                continue
            facts = ctx.facts(loop.span.path)
            if facts is None:
                continue
            line, eline = body_lines(ctx, loop)
            if not facts.manual_parameter_update(line, eline) or facts.manual_grad_zeroing(line, eline):
                continue
            if calls_in_loop(ctx, lid, "zero_grad"):
                continue
            backward = [b for b in calls_in_loop(ctx, lid, "backward") if not is_distributed_backward(b)]
            if not backward:
                continue
            bw = min(backward, key=lambda b: (b.span.line, b.span.column))
            owner = None
            for n in facts.nodes_between(line, eline, ast.For):
                it = facts.text(n.iter)
                if it.endswith(".parameters()"):
                    owner = it[: -len(".parameters()")]
                    break
            if owner and self._fresh_each_iteration(ctx, loop, {owner}):
                continue
            fix = None
            if owner and bw.span.path == loop.span.path:
                fix = fixes.insert_line_before(bw.span.path, bw.span.line, stmt_indent(ctx, bw),
                                               f"{owner}.zero_grad()", f"call {owner}.zero_grad() before backward()")
            msg = ("this loop updates the parameters by hand from .grad but never clears the gradients "
                   f"({owner or 'model'}.zero_grad() or p.grad = None): each update uses the sum of all past gradients")
            yield self.finding(ctx, bw, msg, node=bw.id, fix=fix)

    def _updated_names(self, ctx, step, opt) -> set[str]:
        """The variables holding what ``step`` updates: the optimizer's model, the model of a
        hand-written update's parameter loop, the raw tensors a manual update names."""
        names: set[str] = set()
        model = model_of_optimizer(ctx, opt)
        if model is not None and isinstance(model.get("var"), str):
            names.add(model["var"])
        if step.get("manual"):
            owner = self._param_owner(ctx, step)
            if owner:
                names.add(owner)
            if opt is not None and opt.get("params_kind") == "tensors":
                names.update(p for p in opt.get("params") or [] if isinstance(p, str))
        return names

    @staticmethod
    def _fresh_each_iteration(ctx, loop, names: set[str]) -> bool:
        """Every iteration builds what it updates anew (``model = Net()`` / ``w = torch.randn(...,
        requires_grad=True)`` in the loop body, as a parameter server's worker does): new
        parameters start with ``.grad`` None, so nothing accumulates and zero_grad is not
        needed. ``model = model.to(dev)`` or a copy (``deepcopy`` keeps ``.grad``) is not new."""
        import ast

        if not names:
            return False
        facts = ctx.facts(loop.span.path)
        if facts is None:
            return False
        line, eline = body_lines(ctx, loop)
        fresh: set[str] = set()
        for n in facts.nodes_between(line, eline, (ast.Assign, ast.AnnAssign)):
            targets = n.targets if isinstance(n, ast.Assign) else [n.target]
            v = n.value
            if not isinstance(v, ast.Call):
                continue
            func = facts.text(v.func)
            for t in targets:
                tname = facts.text(t)
                if tname not in names:
                    continue
                root = func.split(".", 1)[0].split("(", 1)[0]
                if root == tname or func.split(".")[-1] in ("deepcopy", "copy"):
                    continue
                fresh.add(tname)
        return fresh >= names

    @staticmethod
    def _param_owner(ctx, step):
        """``model`` for a manual update inside ``for p in model.parameters():``."""
        import ast

        facts = ctx.facts(step.span.path)
        if facts is None:
            return None
        stmt = facts.statement_at(step.span.line)
        node = facts.parent.get(stmt) if stmt is not None else None
        while node is not None and not isinstance(node, (ast.FunctionDef, ast.Module)):
            if isinstance(node, ast.For):
                it = facts.text(node.iter)
                if it.endswith(".parameters()"):
                    return it[: -len(".parameters()")]
            node = facts.parent.get(node)
        return None

    @staticmethod
    def _zeroed(ctx, opt, zeros) -> bool:
        if not zeros:
            return False
        if opt is None:
            return True
        model = model_of_optimizer(ctx, opt)
        for z in zeros:
            tgt = ctx.target(z)
            if tgt is None:
                tgt = optimizer_of(ctx, z) or model_of_call(ctx, z)
            if tgt is None:
                return True  # unknown receiver: give it the benefit of the doubt
            if tgt.id == opt.id or (model is not None and tgt.id == model.id):
                return True
            if tgt.kind == "model" and model is None:
                return True
        return False
