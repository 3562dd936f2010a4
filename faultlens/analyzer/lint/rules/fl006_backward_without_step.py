"""FL006: backward() in a training loop with no optimizer step."""
from __future__ import annotations

from faultlens.analyzer.lint import fixes
from faultlens.analyzer.lint.base import Invalid, LintRule, Valid
from faultlens.analyzer.lint.context import span_tuple
from faultlens.analyzer.lint.rules._loops import body_lines, is_distributed_backward, optimizer_steps, stmt_indent


class BackwardWithoutStep(LintRule):
    code = "FL006"
    name = "backward-without-step"
    severity = "error"
    fault_type = "optimizer"
    summary = "backward() is called in a training loop but no optimizer.step() updates the weights"
    rationale = ("backward() only computes gradients; the weights change only when the optimizer "
                 "steps (or a manual update such as p.data.add_(p.grad, alpha=-lr) runs). Without "
                 "it the loss stays flat for the whole run. Manual SGD updates are recognised.")
    fix_summary = "insert optimizer.step() after backward() when there is exactly one optimizer"
    INVALID = [
        Invalid("""
            import torch
            import torch.nn as nn

            model = nn.Linear(2, 1)
            x, y = torch.randn(64, 2), torch.randn(64, 1)
            for epoch in range(50):
                model.zero_grad()
                loss = ((model(x) - y) ** 2).mean()
                loss.backward()
            """, line=9, note="manual-SGD loop whose update was forgotten"),
        Invalid("""
            import torch
            import torch.nn as nn

            model = nn.Linear(10, 2)
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            x, y = torch.randn(32, 10), torch.randint(0, 2, (32,))
            for epoch in range(20):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                print(epoch, loss.item())
            """, line=11, fixed="""
            import torch
            import torch.nn as nn

            model = nn.Linear(10, 2)
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            x, y = torch.randn(32, 10), torch.randint(0, 2, (32,))
            for epoch in range(20):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                print(epoch, loss.item())
            """),
    ]
    VALID = [
        Valid("""
            import torch
            import torch.nn as nn

            model = nn.Linear(2, 1)
            lr = 0.1
            x, y = torch.randn(64, 2), torch.randn(64, 1)
            for epoch in range(50):
                model.zero_grad()
                loss = ((model(x) - y) ** 2).mean()
                loss.backward()
                with torch.no_grad():
                    for p in model.parameters():
                        p.data.add_(p.grad, alpha=-lr)
            """, note="manual SGD"),
        Valid("""
            import torch
            import torch.nn as nn

            model = nn.Linear(10, 2)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=5)
            batches = [(torch.randn(8, 10), torch.randint(0, 2, (8,))) for _ in range(4)]
            for epoch in range(10):
                optimizer.zero_grad()
                for xb, yb in batches:
                    loss = nn.functional.cross_entropy(model(xb), yb)
                    loss.backward()
                optimizer.step()
                scheduler.step()
            """, note="full-batch accumulation, step once per epoch"),
    ]

    def check(self, ctx):
        optimizers = ctx.optimizers()
        if not optimizers:
            yield from self._no_optimizer(ctx)
            return
        steps = optimizer_steps(ctx, ctx.calls("step"))
        looseless = [s for s in steps if not s.get("loops")]
        for bw in ctx.calls("backward"):
            loops = bw.get("loops") or ([bw.get("loop")] if bw.get("loop") else [])
            if not loops or bw.get("in_closure") or is_distributed_backward(bw):
                continue
            if any(set(s.get("loops") or [s.get("loop")]) & set(loops) for s in steps):
                continue
            if looseless:
                continue  # a step outside any loop (a helper the loop calls, or after it)
            outer = ctx.node(loops[0])
            facts = ctx.facts(bw.span.path)
            if outer is not None and facts is not None:
                line, eline = body_lines(ctx, outer)
                if facts.manual_parameter_update(line, eline):
                    continue
                fn = facts.enclosing_function(bw.span.line)
                if fn is not None and facts.manual_parameter_update(fn.lineno, fn.end_lineno or fn.lineno):
                    continue
            fix = None
            if len(optimizers) == 1 and optimizers[0].get("var"):
                var = optimizers[0].get("var")
                t = span_tuple(bw.span)
                fix = fixes.Fix(f"call {var}.step() after backward()", (
                    fixes.Edit(t[0], t[3] + 1, 1, t[3] + 1, 1,
                               f"{stmt_indent(ctx, bw)}{fixes.statement_code(f'{var}.step()')}\n"),))
            names = ", ".join(o.get("var") or o.name for o in optimizers)
            if len(optimizers) > 1:
                fix = None
            msg = (f"{bw.get('receiver') or 'loss'}.backward() computes gradients but no optimizer "
                   f"step follows in this loop ({names} never steps): the weights never change")
            yield self.finding(ctx, bw, msg, node=bw.id, fix=fix)

    def _no_optimizer(self, ctx):
        """No optimizer at all: flag backward() in a training loop (graph role epoch/step)
        when no file of the program updates parameters by hand."""
        for rel in getattr(ctx.graph, "files", []) or []:
            facts = ctx.facts(rel)
            if facts is not None and facts.manual_parameter_update(1, len(facts.lines) + 1):
                return
        steps = [s for s in ctx.calls("step") if ctx.is_optimizer_call(s) is not False]
        for bw in ctx.calls("backward"):
            loops = [ctx.node(l) for l in (bw.get("loops") or [])]
            if bw.get("in_closure") or is_distributed_backward(bw):
                continue
            if not any(l is not None and l.get("role") in ("epoch", "step") for l in loops):
                continue
            if any(set(s.get("loops") or []) & set(bw.get("loops") or []) or not s.get("loops") for s in steps):
                continue  # an optimizer the graph did not resolve (a function parameter) steps
            msg = (f"{bw.get('receiver') or 'loss'}.backward() computes gradients in a training loop, but "
                   f"there is no optimizer and no manual parameter update: the weights never change")
            yield self.finding(ctx, bw, msg, node=bw.id)
