"""FL004: BCELoss on unbounded (logit) outputs."""
from __future__ import annotations

from faultlens.analyzer.lint.base import Invalid, LintRule, Valid
from faultlens.analyzer.lint.rules._common import layer_kind, loss_calls, prediction_producer, swap_loss_fix


class BceOnUnboundedOutput(LintRule):
    code = "FL004"
    name = "bce-loss-on-logits"
    severity = "error"
    fault_type = "loss_function"
    summary = "BCELoss applied to unbounded outputs (no sigmoid after the last linear layer)"
    rationale = ("nn.BCELoss expects probabilities in [0, 1] (PyTorch docs); logits outside that "
                 "range raise 'all elements of input should be between 0 and 1' on CPU or give "
                 "NaN/garbage losses. BCEWithLogitsLoss takes logits and is numerically stable.")
    fix_summary = "replace BCELoss by BCEWithLogitsLoss"
    INVALID = [
        Invalid("""
            import torch
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(30, 16)
                    self.fc2 = nn.Linear(16, 1)

                def forward(self, x):
                    return self.fc2(torch.relu(self.fc1(x)))

            model = Net()
            criterion = nn.BCELoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
            x, y = torch.randn(64, 30), torch.randint(0, 2, (64, 1)).float()
            for epoch in range(20):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """, line=19, fixed="""
            import torch
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(30, 16)
                    self.fc2 = nn.Linear(16, 1)

                def forward(self, x):
                    return self.fc2(torch.relu(self.fc1(x)))

            model = Net()
            criterion = nn.BCEWithLogitsLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
            x, y = torch.randn(64, 30), torch.randint(0, 2, (64, 1)).float()
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

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(30, 1)

                def forward(self, x):
                    return torch.sigmoid(self.fc(x))

            model = Net()
            criterion = nn.BCELoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
            x, y = torch.randn(64, 30), torch.randint(0, 2, (64, 1)).float()
            for epoch in range(20):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """, note="sigmoid + BCELoss is a style choice, not a bug"),
        Valid("""
            import torch
            import torch.nn as nn

            model = nn.Sequential(nn.Linear(30, 1), nn.Sigmoid())
            criterion = nn.BCELoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
            x, y = torch.randn(64, 30), torch.randint(0, 2, (64, 1)).float()
            for epoch in range(20):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """),
    ]

    def check(self, ctx):
        for call, lt, loss in loss_calls(ctx, "BCELoss"):
            prod = prediction_producer(ctx, call)
            if prod.kind != "affine":
                continue
            msg = (f"BCELoss receives unbounded outputs of {prod.describe} (ends with "
                   f"{layer_kind(prod.node)}, no sigmoid): use BCEWithLogitsLoss or add a sigmoid")
            yield self.finding(ctx, call, msg, node=call.id,
                               fix=swap_loss_fix(ctx, loss, "BCEWithLogitsLoss", "binary_cross_entropy_with_logits"))
