"""FL009: model.eval() inside the epoch loop never undone by model.train()."""
from __future__ import annotations

from faultlens.analyzer.lint import fixes
from faultlens.analyzer.lint.base import Invalid, LintRule, Valid
from faultlens.analyzer.lint.context import span_tuple
from faultlens.analyzer.lint.rules.fl008_no_grad_without_eval import NoGradWithoutEval
from faultlens.analyzer.lint.rules._loops import (
    body_lines, calls_reachable, function_short, is_eval_call, is_train_call, model_of_call, same_model,
)


class EvalNotUndone(LintRule):
    code = "FL009"
    name = "eval-mode-not-undone"
    severity = "error"
    fault_type = "regularization"
    summary = "model.eval() inside the epoch loop with no model.train() before the next training step"
    rationale = ("eval() is sticky: after the first evaluation every later epoch trains with dropout "
                 "disabled and batch-norm frozen on running statistics, silently removing "
                 "regularisation and changing BN behaviour (PyTorch docs, Module.train/eval).")
    fix_summary = "insert model.train() at the top of the epoch loop body"
    INVALID = [
        Invalid("""
            import torch
            import torch.nn as nn

            model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 2))
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(32, 10), torch.randint(0, 2, (32,))
            for epoch in range(5):
                optimizer.zero_grad()
                loss = nn.functional.cross_entropy(model(x), y)
                loss.backward()
                optimizer.step()
                model.eval()
                with torch.no_grad():
                    acc = (model(x).argmax(1) == y).float().mean()
            """, line=12, fixed="""
            import torch
            import torch.nn as nn

            model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 2))
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(32, 10), torch.randint(0, 2, (32,))
            for epoch in range(5):
                model.train()
                optimizer.zero_grad()
                loss = nn.functional.cross_entropy(model(x), y)
                loss.backward()
                optimizer.step()
                model.eval()
                with torch.no_grad():
                    acc = (model(x).argmax(1) == y).float().mean()
            """),
        Invalid("""
            import torch
            import torch.nn as nn

            def evaluate(model, x, y):
                model.eval()
                with torch.no_grad():
                    return (model(x).argmax(1) == y).float().mean()

            model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 2))
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(32, 10), torch.randint(0, 2, (32,))
            for epoch in range(5):
                optimizer.zero_grad()
                loss = nn.functional.cross_entropy(model(x), y)
                loss.backward()
                optimizer.step()
                acc = evaluate(model, x, y)
            """, line=5, note="eval() in a helper called from the epoch loop"),
    ]
    VALID = [
        Valid("""
            import torch
            import torch.nn as nn

            def train_one_epoch(model, opt, x, y):
                model.train()
                opt.zero_grad()
                loss = nn.functional.cross_entropy(model(x), y)
                loss.backward()
                opt.step()

            def evaluate(model, x, y):
                model.eval()
                with torch.no_grad():
                    return (model(x).argmax(1) == y).float().mean()

            model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 2))
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(32, 10), torch.randint(0, 2, (32,))
            for epoch in range(5):
                train_one_epoch(model, optimizer, x, y)
                acc = evaluate(model, x, y)
            """),
        Valid("""
            import torch
            import torch.nn as nn

            model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 2))
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(32, 10), torch.randint(0, 2, (32,))
            for epoch in range(5):
                optimizer.zero_grad()
                loss = nn.functional.cross_entropy(model(x), y)
                loss.backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                acc = (model(x).argmax(1) == y).float().mean()
            """, note="eval() after the training loop"),
    ]

    @staticmethod
    def _train_in_body(ctx, loop, e, model) -> bool:
        """Local helper for calls the graph does not model: a chained
        ``transformer.to(device).train()`` (or ``.train(True)``) inside the loop body."""
        import ast

        from faultlens.analyzer.lint.facts import call_name

        facts = ctx.facts(loop.span.path)
        if facts is None:
            return False
        line, eline = body_lines(ctx, loop)
        var = (model.get("var") if model is not None else None) or (e.get("receiver") or "").split(".")[0]
        for c in facts.calls_between(line, eline):
            if call_name(c) != "train" or not isinstance(c.func, ast.Attribute):
                continue
            if c.args and facts.text(c.args[0]) in ("False", "0"):
                continue
            base = facts.text(c.func.value)
            if not var or base == var or base.startswith(var + ".") or base.startswith(var + "("):
                return True
        return False

    def check(self, ctx):
        loops = ctx.nodes("loop")
        reported = set()
        for loop in loops:
            backward = calls_reachable(ctx, loop, "backward")
            if not backward:
                continue
            evals = [c for c in calls_reachable(ctx, loop, "eval")] + [
                c for c in calls_reachable(ctx, loop, "train") if is_eval_call(c)]
            if not evals:
                continue
            trains = [c for c in calls_reachable(ctx, loop, "train") if is_train_call(c)]
            for e in evals:
                model = model_of_call(ctx, e)
                if any(same_model(ctx, t, model) for t in trains):
                    continue
                if self._train_in_body(ctx, loop, e, model):
                    continue
                if model is not None and not NoGradWithoutEval()._has_mode_layers(ctx, model):
                    continue  # no dropout / batch-norm: eval() changes nothing
                # the eval must be reachable on the path back to the next training step: the
                # loop must enclose (or call) both; only report the outermost such loop once
                if e.id in reported:
                    continue
                reported.add(e.id)
                var = e.get("receiver") or (model.get("var") if model is not None else "model")
                fix = None
                facts = ctx.facts(loop.span.path)
                line, _ = body_lines(ctx, loop)
                first = facts.statement_at(line) if facts is not None else None
                if first is None and facts is not None:
                    # body_span may start at the colon; take the first statement after the header
                    cands = [s for s in facts.stmts if s.lineno > loop.span.line and s.lineno <= loop.span.end_line]
                    first = cands[0] if cands else None
                if first is not None and function_short(e) == function_short(loop) and e.span.path == loop.span.path:
                    fix = fixes.insert_line_before(loop.span.path, first.lineno, facts.indent_of(first.lineno),
                                                   f"{var}.train()", f"call {var}.train() at the start of each epoch")
                elif first is not None and model is not None and model.get("var"):
                    v = model.get("var")
                    fix = fixes.insert_line_before(loop.span.path, first.lineno, facts.indent_of(first.lineno),
                                                   f"{v}.train()", f"call {v}.train() at the start of each epoch")
                msg = (f"{var}.eval() is called inside the training loop (line {loop.span.line}) but "
                       f"{var}.train() is never called again: later epochs train in eval mode")
                yield self.finding(ctx, e, msg, node=e.id, fix=fix)
