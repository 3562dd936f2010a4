"""FL008: evaluation under no_grad() without model.eval() for a model with dropout/batch-norm."""
from __future__ import annotations

from faultlens.analyzer.lint import fixes
from faultlens.analyzer.lint.base import Invalid, LintRule, Valid
from faultlens.analyzer.lint.context import span_tuple
from faultlens.analyzer.lint.rules._loops import calls_in_loop, is_eval_call, is_train_call, model_of_call, same_model

MODE_LAYERS = ("Dropout", "BatchNorm", "AlphaDropout", "FeatureAlphaDropout", "InstanceNorm", "SyncBatchNorm")


class NoGradWithoutEval(LintRule):
    code = "FL008"
    name = "no-grad-eval-without-eval-mode"
    severity = "warning"
    fault_type = "regularization"
    summary = "model with dropout/batch-norm evaluated under no_grad() without model.eval()"
    rationale = ("torch.no_grad() only disables autograd; it does not switch Dropout and BatchNorm "
                 "to inference behaviour (PyTorch docs, 'Locally disabling gradient computation'). "
                 "Without eval() dropout stays active and batch-norm uses (and updates) batch "
                 "statistics, so evaluation metrics are noisy and too low and BN running stats drift.")
    fix_summary = "insert model.eval() before the no_grad block (and keep a model.train() for training)"
    INVALID = [
        Invalid("""
            import torch
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(10, 32)
                    self.drop = nn.Dropout(0.3)
                    self.fc2 = nn.Linear(32, 2)

                def forward(self, x):
                    return self.fc2(self.drop(torch.relu(self.fc1(x))))

            model = Net()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(32, 10), torch.randint(0, 2, (32,))
            for epoch in range(5):
                optimizer.zero_grad()
                loss = nn.functional.cross_entropy(model(x), y)
                loss.backward()
                optimizer.step()
            with torch.no_grad():
                acc = (model(x).argmax(1) == y).float().mean()
            """, line=22, fixed="""
            import torch
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(10, 32)
                    self.drop = nn.Dropout(0.3)
                    self.fc2 = nn.Linear(32, 2)

                def forward(self, x):
                    return self.fc2(self.drop(torch.relu(self.fc1(x))))

            model = Net()
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
            """),
    ]
    VALID = [
        Valid("""
            import torch
            import torch.nn as nn

            model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 2))
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
        Valid("""
            import torch
            import torch.nn as nn

            model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 2))
            x = torch.randn(32, 10)
            with torch.no_grad():
                pred = model(x).argmax(1)
            """, note="no dropout or batch-norm: train/eval modes are identical"),
    ]

    def check(self, ctx):
        training_loops = {lid for b in ctx.calls("backward") for lid in (b.get("loops") or [])}
        eval_calls = [c for c in ctx.calls() if is_eval_call(c)]
        reported = set()
        for fwd in ctx.calls("forward"):
            ctx_ids = fwd.get("contexts") or []
            contexts = [ctx.node(c) for c in ctx_ids]
            contexts = [c for c in contexts if c is not None and c.get("ctx") in ("no_grad", "inference_mode")]
            if not contexts:
                continue
            if set(fwd.get("loops") or []) & training_loops:
                continue  # a metric on the training batch inside the training step
            model = model_of_call(ctx, fwd)
            if model is None or not self._has_mode_layers(ctx, model):
                continue
            cm = contexts[0]
            if (cm.id, model.id) in reported:
                continue
            if self._eval_before(ctx, eval_calls, model, cm, fwd):
                continue
            reported.add((cm.id, model.id))
            var = model.get("var") or "model"
            facts = ctx.facts(cm.span.path)
            fix = None
            has_train = any(is_train_call(c) and same_model(ctx, c, model) for c in ctx.calls("train"))
            if facts is not None and (has_train or not (set(cm.get("loops") or []) & training_loops)):
                encl = [ctx.node(l) for l in (fwd.get("loops") or [])]
                if not any(l is not None and l.span.line >= cm.span.line for l in encl):
                    fix = fixes.insert_line_before(cm.span.path, cm.span.line, facts.indent_of(cm.span.line),
                                                   f"{var}.eval()", f"call {var}.eval() before evaluating")
            kinds = self._mode_layer_names(ctx, model)
            msg = (f"{var} has {kinds} but is evaluated under {cm.get('ctx')}() without {var}.eval(): "
                   f"no_grad does not switch dropout/batch-norm to inference mode")
            yield self.finding(ctx, cm.span, msg, node=cm.id, fix=fix)

    def _layers(self, ctx, model):
        cls = ctx.model_class(model)
        layers = []
        if cls is not None and cls.kind == "module_class":
            layers = ctx.class_layers(cls.id)
            ops = ctx.class_ops(cls.id)
            return [l.get("layer_type") or "" for l in layers] + [
                "Dropout" for o in ops if o.get("op") in ("dropout", "dropout2d", "alpha_dropout")]
        # an external container (nn.Sequential(...)) modelled by its layers
        return [l.get("layer_type") or "" for l in ctx.nodes("layer") if l.get("owner") == model.id]

    def _has_mode_layers(self, ctx, model) -> bool:
        return any(t.startswith(MODE_LAYERS) for t in self._layers(ctx, model))

    def _mode_layer_names(self, ctx, model) -> str:
        names = sorted({t for t in self._layers(ctx, model) if t.startswith(MODE_LAYERS)})
        return " and ".join(names[:2]) + (" layers" if len(names) != 1 else "")

    @staticmethod
    def _eval_before(ctx, eval_calls, model, cm, fwd) -> bool:
        fn = fwd.get("function")
        for e in eval_calls:
            if not same_model(ctx, e, model):
                continue
            if e.get("function") != fn or e.span.path != fwd.span.path:
                return True  # set elsewhere (a caller): cannot order it, accept
            if e.span.line < fwd.span.line:
                return True
            # an eval() later in an enclosing loop body runs before this block on the next
            # iteration only; the first evaluation still runs in training mode
        return False
