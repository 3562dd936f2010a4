"""FL002: NLLLoss on outputs that are not log-probabilities."""
from __future__ import annotations

from faultlens.analyzer.lint.base import Invalid, LintRule, Valid
from faultlens.analyzer.lint.rules._common import layer_kind, loss_calls, prediction_producer, swap_loss_fix


class NllWithoutLogSoftmax(LintRule):
    code = "FL002"
    name = "nll-loss-without-log-softmax"
    severity = "error"
    fault_type = "loss_function"
    summary = "NLLLoss applied to outputs that are not log_softmax (raw logits or probabilities)"
    rationale = ("nn.NLLLoss expects log-probabilities (PyTorch docs: 'obtaining log-probabilities "
                 "... is easily achieved by adding a LogSoftmax layer'). On raw logits the loss is "
                 "unbounded below (it just pushes the target logit up), on softmax probabilities it "
                 "is -p, a weak, non-log objective; either way training is wrong.")
    fix_summary = "replace NLLLoss by CrossEntropyLoss (= log_softmax + NLLLoss) when the model returns logits"
    INVALID = [
        Invalid("""
            import torch
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(4, 16)
                    self.fc2 = nn.Linear(16, 3)

                def forward(self, x):
                    return self.fc2(torch.relu(self.fc1(x)))

            model = Net()
            criterion = nn.NLLLoss()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
            for epoch in range(10):
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
                    self.fc1 = nn.Linear(4, 16)
                    self.fc2 = nn.Linear(16, 3)

                def forward(self, x):
                    return self.fc2(torch.relu(self.fc1(x)))

            model = Net()
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
            for epoch in range(10):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """, note="logits into NLLLoss"),
        Invalid("""
            import torch
            import torch.nn.functional as F

            model = torch.nn.Linear(10, 4)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(32, 10), torch.randint(0, 4, (32,))
            for step in range(50):
                optimizer.zero_grad()
                probs = F.softmax(model(x), dim=1)
                loss = F.nll_loss(probs, y)
                loss.backward()
                optimizer.step()
            """, line=10, note="softmax probabilities (not log) into nll_loss"),
        Invalid("""
            import torch
            import torch.nn as nn

            model = nn.Linear(13, 3)
            criterion = nn.NLLLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(30, 13), torch.randint(0, 3, (30,))
            for epoch in range(10):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """, line=10, note="the model is a single nn.Linear"),
    ]
    VALID = [
        Valid("""
            import torch
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(4, 3)

                def forward(self, x):
                    return F.log_softmax(self.fc(x), dim=1)

            model = Net()
            criterion = nn.NLLLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
            for epoch in range(10):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """, note="log_softmax + NLLLoss"),
        Valid("""
            import torch
            import torch.nn as nn

            model = nn.Sequential(nn.Linear(4, 3), nn.LogSoftmax(dim=1))
            criterion = nn.NLLLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
            for epoch in range(10):
                optimizer.zero_grad()
                loss = criterion(torch.log(torch.softmax(model[0](x), dim=1)), y)
                loss.backward()
                optimizer.step()
            """, note="log(softmax(...)) is a log-probability"),
    ]

    def check(self, ctx):
        for call, lt, loss in loss_calls(ctx, "NLLLoss"):
            prod = prediction_producer(ctx, call)
            if prod.kind == "affine":
                msg = (f"NLLLoss receives raw logits from {prod.describe} (ends with a "
                       f"{layer_kind(prod.node)}): add log_softmax or use CrossEntropyLoss")
                fix = swap_loss_fix(ctx, loss, "CrossEntropyLoss", "cross_entropy")
                yield self.finding(ctx, call, msg, node=call.id, fix=fix)
            elif prod.kind in ("softmax", "sigmoid"):
                msg = (f"NLLLoss receives {prod.kind} probabilities ({prod.describe}), not "
                       f"log-probabilities: use log_softmax instead")
                yield self.finding(ctx, call, msg, node=call.id)
