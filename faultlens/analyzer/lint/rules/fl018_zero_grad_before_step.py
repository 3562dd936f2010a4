"""FL018: zero_grad() between backward() and step() wipes the gradients before the update."""
from __future__ import annotations

from faultlens.analyzer.lint.base import Invalid, LintRule, Valid
from faultlens.analyzer.lint.rules._loops import (
    calls_in_loop, is_distributed_backward, model_of_call, model_of_optimizer, move_line_after, optimizer_of,
    optimizer_steps, step_has_closure,
)


class ZeroGradBeforeStep(LintRule):
    code = "FL018"
    name = "zero-grad-between-backward-and-step"
    severity = "error"
    fault_type = "training_loop"
    summary = "zero_grad() runs after backward() and before step(): the update uses zeroed gradients"
    rationale = ("optimizer.step() reads .grad. Clearing it between backward() and step() (zero_grad "
                 "with set_to_none=True leaves None, which step() skips) means no parameter is updated "
                 "(or, with momentum/weight decay, only those terms act): the loss stays flat.")
    fix_summary = "move the zero_grad() call after step()"
    INVALID = [
        Invalid("""
            import torch
            import torch.nn as nn

            model = nn.Linear(10, 2)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(32, 10), torch.randint(0, 2, (32,))
            for epoch in range(20):
                loss = nn.functional.cross_entropy(model(x), y)
                loss.backward()
                optimizer.zero_grad()
                optimizer.step()
            """, line=10, fixed="""
            import torch
            import torch.nn as nn

            model = nn.Linear(10, 2)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(32, 10), torch.randint(0, 2, (32,))
            for epoch in range(20):
                loss = nn.functional.cross_entropy(model(x), y)
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
            """),
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
                netD.zero_grad()
                lossD = bce(netD(fake.detach()), torch.zeros(8, 1))
                lossD.backward()
                optD.step()
                netG.zero_grad()
                lossG = bce(netD(fake), torch.ones(8, 1))
                lossG.backward()
                optG.step()
            """, note="each network is zeroed before its own backward"),
        Valid("""
            import torch
            import torch.nn as nn

            model = nn.Linear(10, 2)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(32, 10), torch.randint(0, 2, (32,))
            for epoch in range(20):
                loss = nn.functional.cross_entropy(model(x), y)
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
            """),
    ]

    def check(self, ctx):
        reported = set()
        for s in optimizer_steps(ctx, ctx.calls("step")):
            lid = s.get("loop")
            if not lid or s.get("in_closure") or s.get("manual") or step_has_closure(ctx, s):
                continue
            same_file = lambda c: c.span.path == s.span.path  # noqa: E731
            before = [b for b in calls_in_loop(ctx, lid, "backward")
                      if same_file(b) and b.span.line < s.span.line and not b.get("in_closure")
                      and not is_distributed_backward(b)]
            if not before:
                continue
            last_bw = max(before, key=lambda b: (b.span.line, b.span.column))
            opt = optimizer_of(ctx, s)
            model = model_of_optimizer(ctx, opt)
            for z in calls_in_loop(ctx, lid, "zero_grad"):
                if not same_file(z) or not (last_bw.span.end_line < z.span.line < s.span.line) or z.get("manual"):
                    continue
                tgt = ctx.target(z) or optimizer_of(ctx, z) or model_of_call(ctx, z)
                if tgt is not None and opt is not None and tgt.id not in (opt.id, model.id if model is not None else None):
                    continue
                if z.id in reported:
                    continue
                reported.add(z.id)
                fix = None
                if s.span.line == s.span.end_line:  # (z is in s's file: same_file above)
                    fix = move_line_after(ctx, z, s,
                                          lambda text: f"move {text} after {s.get('receiver') or 'optimizer'}.step()")
                msg = (f"{z.get('receiver') or 'optimizer'}.zero_grad() clears the gradients of "
                       f"{last_bw.get('receiver') or 'loss'}.backward() (line {last_bw.span.line}) before "
                       f"{s.get('receiver') or 'optimizer'}.step() (line {s.span.line}) uses them")
                yield self.finding(ctx, z, msg, node=z.id, fix=fix)
