"""FL017: a loss that is back-propagated but computed on detached outputs."""
from __future__ import annotations

import ast

from faultlens.analyzer.lint import fixes
from faultlens.analyzer.lint.base import Invalid, LintRule, Valid
from faultlens.analyzer.lint.rules._common import ast_call_for, loss_type_of, prediction_producer


def _undetach(node):
    import libcst as cst

    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "detach":
        return node.func.value
    if isinstance(node, cst.Attribute) and node.attr.value == "data":
        return node.value
    return None


class LossOnDetached(LintRule):
    code = "FL017"
    name = "loss-on-detached-output"
    severity = "error"
    fault_type = "training_loop"
    summary = "the loss that is back-propagated is computed on .detach() / .data outputs or under no_grad()"
    rationale = (".detach() and .data return tensors cut from the autograd graph: backward() "
                 "through such a loss cannot reach the model's parameters (it fails with 'element 0 "
                 "of tensors does not require grad' or silently leaves the model unchanged when "
                 "another term still requires grad).")
    fix_summary = "remove the .detach() / .data on the prediction"
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
                out = model(x)
                loss = criterion(out.detach(), y)
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
                optimizer.zero_grad()
                out = model(x)
                loss = criterion(out, y)
                loss.backward()
                optimizer.step()
            """),
        Invalid("""
            import torch
            import torch.nn as nn

            def step(model, xb, yb, criterion, optimizer):
                optimizer.zero_grad()
                with torch.no_grad():
                    loss = criterion(model(xb), yb)
                loss.backward()
                optimizer.step()
                return loss.item()

            net = nn.Linear(4, 2)
            opt = torch.optim.SGD(net.parameters(), lr=0.1)
            for epoch in range(3):
                step(net, torch.randn(8, 4), torch.randint(0, 2, (8,)), nn.CrossEntropyLoss(), opt)
            """, line=7, note="the training step's loss computed under no_grad"),
    ]
    VALID = [
        Valid("""
            import torch
            import torch.nn as nn

            model = nn.Linear(4, 1)
            loss_fn = nn.SmoothL1Loss()
            opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
            x, y = torch.randn(16, 4), torch.randn(16, 1)
            for epoch in range(5):
                opt.zero_grad()
                loss_fn(model(x), y).backward()
                opt.step()
                with torch.no_grad():
                    print(loss_fn(model(x), y).item())
            """, note="a validation loss under no_grad next to a back-propagated one"),
        Valid("""
            import torch
            import torch.nn as nn

            netD, netG = nn.Linear(4, 1), nn.Linear(2, 4)
            optD = torch.optim.Adam(netD.parameters(), lr=2e-4)
            bce = nn.BCEWithLogitsLoss()
            for it in range(10):
                fake = netG(torch.randn(8, 2))
                optD.zero_grad()
                lossD = bce(netD(fake.detach()), torch.zeros(8, 1))
                lossD.backward()
                optD.step()
            """, note="GAN: detach inside the discriminator input is intended"),
        Valid("""
            import torch
            import torch.nn as nn

            model = nn.Linear(10, 2)
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(32, 10), torch.randint(0, 2, (32,))
            for epoch in range(20):
                optimizer.zero_grad()
                out = model(x)
                loss = criterion(out, y)
                loss.backward()
                optimizer.step()
                logged = criterion(out.detach(), y).item()
            """, note="a detached loss used only for logging"),
    ]

    def check(self, ctx):
        backward_receivers = {}
        for b in ctx.calls("backward"):
            backward_receivers.setdefault((b.span.path, b.get("function")), set()).add((b.get("receiver") or "").strip())
        for call in ctx.calls("loss"):
            result = call.get("result")
            recvs = backward_receivers.get((call.span.path, call.get("function")), set())
            if not recvs:
                continue
            if result is None:
                # criterion(out, y).backward() has no result variable: this very statement
                # must back-propagate it
                if not self._backprop_expr(ctx, call, recvs):
                    continue
            elif result is not None and not self._reaches_backward(ctx, call, result, recvs):
                continue
            no_grad = [c for c in (ctx.node(i) for i in (call.get("contexts") or []))
                       if c is not None and c.get("ctx") in ("no_grad", "inference_mode")]
            if no_grad:
                lt, _ = loss_type_of(ctx, call)
                msg = (f"{lt or 'the loss'} is computed under {no_grad[0].get('ctx')}() (line "
                       f"{no_grad[0].span.line}) and then back-propagated: it has no autograd graph, so "
                       f"backward() fails ('does not require grad') or updates nothing")
                yield self.finding(ctx, call, msg, node=call.id)
                continue
            prod = prediction_producer(ctx, call)
            if prod.kind != "detached" or prod.ast_node is None:
                continue
            facts = ctx.facts(call.span.path)
            rel = call.span.path
            node = prod.ast_node
            loc = ctx.ast_location(rel, node)
            fix = None
            ac = ast_call_for(ctx, call)
            if ac is not None and ac.args and ac.args[0] is node:
                fix = fixes.rewrite_expression(rel, loc[1:], facts.segment(*loc[1:]), _undetach,
                                               "back-propagate through the prediction (drop .detach()/.data)")
            lt, _ = loss_type_of(ctx, call)
            msg = (f"{lt or 'loss'} is computed on {facts.text(node)}, which is detached from the "
                   f"autograd graph, yet it is back-propagated (no gradient reaches the model)")
            yield self.finding(ctx, loc, msg, node=call.id, fix=fix)

    @staticmethod
    def _reaches_backward(ctx, call, result, recvs) -> bool:
        if result in recvs:
            return True
        facts = ctx.facts(call.span.path)
        if facts is None:
            return False
        fn = facts.enclosing_function(call.span.line)
        # total = loss_a + result ; total.backward()
        for name, ln, value, stmt in facts.assigns:
            if name in recvs and ln > call.span.line and facts.enclosing_function(stmt) is fn:
                if any(isinstance(n, ast.Name) and n.id == result for n in ast.walk(value)):
                    return True
        return False

    @staticmethod
    def _backprop_expr(ctx, call, recvs) -> bool:
        facts = ctx.facts(call.span.path)
        if facts is None:
            return False
        stmt = facts.statement_at(call.span.line)
        return stmt is not None and ".backward(" in facts.text(stmt)
