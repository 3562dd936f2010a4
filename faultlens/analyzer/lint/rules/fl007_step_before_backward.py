"""FL007: optimizer.step() before loss.backward() in the same iteration."""
from __future__ import annotations

from faultlens.analyzer.lint.base import Invalid, LintRule, Valid
from faultlens.analyzer.lint.rules._loops import (
    calls_in_loop, in_conditional, is_distributed_backward, move_line_after, optimizer_steps, step_has_closure,
)


class StepBeforeBackward(LintRule):
    code = "FL007"
    name = "step-before-backward"
    severity = "error"
    fault_type = "training_loop"
    summary = "optimizer.step() runs before loss.backward() in the loop body"
    rationale = ("step() applies the gradients currently stored in .grad. Called before this "
                 "iteration's backward() it applies nothing on the first iteration and the "
                 "previous batch's gradients afterwards (or nothing at all when zero_grad() runs "
                 "in between), so updates lag or vanish.")
    fix_summary = "move the step() call after the backward() call"
    INVALID = [
        Invalid("""
            import torch
            import torch.nn as nn

            model = nn.Linear(10, 2)
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(32, 10), torch.randint(0, 2, (32,))
            for epoch in range(20):
                optimizer.zero_grad()
                optimizer.step()
                loss = criterion(model(x), y)
                loss.backward()
            """, line=10, fixed="""
            import torch
            import torch.nn as nn

            model = nn.Linear(10, 2)
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(32, 10), torch.randint(0, 2, (32,))
            for epoch in range(20):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """),
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
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """),
        Valid("""
            import torch
            import torch.nn as nn

            model = nn.Linear(3, 1)
            optimizer = torch.optim.LBFGS(model.parameters())
            x, y = torch.randn(20, 3), torch.randn(20, 1)

            def closure():
                optimizer.zero_grad()
                loss = ((model(x) - y) ** 2).mean()
                loss.backward()
                return loss

            for it in range(10):
                optimizer.step(closure)
            """, note="the closure's backward runs inside step"),
    ]

    def check(self, ctx):
        by_loop = {}
        for s in optimizer_steps(ctx, ctx.calls("step")):
            if s.get("loop") and not s.get("in_closure") and not step_has_closure(ctx, s):
                by_loop.setdefault(s.get("loop"), []).append(s)
        for lid, steps in by_loop.items():
            loop = ctx.node(lid)
            backward = [b for b in calls_in_loop(ctx, lid, "backward")
                        if not b.get("in_closure") and not is_distributed_backward(b)]
            if loop is None or not backward:
                continue
            first_bw = min(backward, key=lambda b: (b.span.line, b.span.column))
            for s in steps:
                if (s.span.path, s.span.line) >= (first_bw.span.path, first_bw.span.line):
                    continue
                if in_conditional(ctx, s, loop):
                    continue  # e.g. accumulation that steps at the top of the next iteration
                last_bw = max(backward, key=lambda b: (b.span.end_line, b.span.column))
                fix = move_line_after(ctx, s, last_bw,
                                      lambda _: f"move {s.get('receiver') or 'optimizer'}.step() after backward()")
                msg = (f"{s.get('receiver') or 'optimizer'}.step() runs before "
                       f"{first_bw.get('receiver') or 'loss'}.backward() (line {first_bw.span.line}): "
                       f"it applies stale or empty gradients")
                yield self.finding(ctx, s, msg, node=s.id, fix=fix)
