"""FL003: sigmoid output fed to BCEWithLogitsLoss."""
from __future__ import annotations

from faultlens.analyzer.lint.base import Invalid, LintRule, Valid
from faultlens.analyzer.lint.rules._common import loss_calls, prediction_producer, remove_activation_fix


class SigmoidBeforeBceWithLogits(LintRule):
    code = "FL003"
    name = "sigmoid-before-bce-with-logits"
    severity = "error"
    fault_type = "loss_function"
    summary = "sigmoid output passed to BCEWithLogitsLoss (which applies sigmoid itself)"
    rationale = ("BCEWithLogitsLoss combines a sigmoid and BCELoss (PyTorch docs). A sigmoid in front "
                 "applies it twice: predictions are squeezed into [0.5, 0.73], the loss cannot go "
                 "below ~0.31 for positives and gradients vanish.")
    fix_summary = "remove the sigmoid (pass logits)"
    INVALID = [
        Invalid("""
            import torch
            import torch.nn as nn

            model = nn.Linear(20, 1)
            criterion = nn.BCEWithLogitsLoss()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            x, y = torch.randn(64, 20), torch.randint(0, 2, (64, 1)).float()
            for epoch in range(20):
                optimizer.zero_grad()
                out = torch.sigmoid(model(x))
                loss = criterion(out, y)
                loss.backward()
                optimizer.step()
            """, line=10, fixed="""
            import torch
            import torch.nn as nn

            model = nn.Linear(20, 1)
            criterion = nn.BCEWithLogitsLoss()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            x, y = torch.randn(64, 20), torch.randint(0, 2, (64, 1)).float()
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

            class Classifier(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(20, 1)
                    self.act = nn.Sigmoid()

                def forward(self, x):
                    return self.act(self.fc(x))

            model = Classifier()
            criterion = nn.BCEWithLogitsLoss()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            x, y = torch.randn(64, 20), torch.randint(0, 2, (64, 1)).float()
            for epoch in range(20):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """, note="Sigmoid layer at the end of forward"),
    ]
    VALID = [
        Valid("""
            import torch
            import torch.nn as nn

            model = nn.Linear(20, 1)
            criterion = nn.BCEWithLogitsLoss()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            x, y = torch.randn(64, 20), torch.randint(0, 2, (64, 1)).float()
            for epoch in range(20):
                optimizer.zero_grad()
                logits = model(x)
                loss = criterion(logits, y)
                loss.backward()
                optimizer.step()
                preds = torch.sigmoid(logits) > 0.5
            """),
    ]

    def check(self, ctx):
        seen = set()
        for call, lt, loss in loss_calls(ctx, "BCEWithLogitsLoss"):
            prod = prediction_producer(ctx, call)
            if prod.where in seen:
                continue  # one forward activation feeding many loss calls: report it once
            seen.add(prod.where)
            if prod.kind != "sigmoid" or prod.where is None:
                continue
            src = f" in {prod.describe}" if prod.node is not None else ""
            msg = (f"sigmoid{src} feeds BCEWithLogitsLoss (line {call.span.line}), which applies "
                   f"sigmoid itself: pass the logits")
            yield self.finding(ctx, prod.where, msg, node=prod.node.id if prod.node is not None else call.id,
                               fix=remove_activation_fix(ctx, prod, "sigmoid"))
