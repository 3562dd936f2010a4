"""FL001: softmax output fed to CrossEntropyLoss."""
from __future__ import annotations

from faultlens.analyzer.lint.base import Invalid, LintRule, Valid
from faultlens.analyzer.lint.rules._common import loss_calls, prediction_producer, remove_activation_fix


class SoftmaxBeforeCrossEntropy(LintRule):
    code = "FL001"
    name = "softmax-before-cross-entropy"
    severity = "error"
    fault_type = "loss_function"
    summary = ("softmax output passed to CrossEntropyLoss (which applies log_softmax itself); "
               "a redundant log_softmax is reported as info")
    rationale = ("nn.CrossEntropyLoss / F.cross_entropy expect raw logits and apply log_softmax "
                 "internally (PyTorch docs, CrossEntropyLoss). A softmax in front squashes the logits "
                 "into [0, 1], so the loss saturates near log(C) and gradients shrink: training stalls. "
                 "Listed among TorchFix's and Amazon CodeGuru's PyTorch detectors.")
    fix_summary = "remove the softmax call or layer (return the logits)"
    INVALID = [
        Invalid("""
            import torch
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(4, 16)
                    self.fc2 = nn.Linear(16, 3)

                def forward(self, x):
                    x = F.relu(self.fc1(x))
                    return F.softmax(self.fc2(x), dim=1)

            model = Net()
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
            for epoch in range(10):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """, line=13, fixed="""
            import torch
            import torch.nn as nn
            import torch.nn.functional as F

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(4, 16)
                    self.fc2 = nn.Linear(16, 3)

                def forward(self, x):
                    x = F.relu(self.fc1(x))
                    return self.fc2(x)

            model = Net()
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
            for epoch in range(10):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """, note="softmax at the end of forward"),
        Invalid("""
            import torch
            import torch.nn as nn

            model = nn.Linear(10, 5)
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            x, y = torch.randn(32, 10), torch.randint(0, 5, (32,))
            for step in range(100):
                optimizer.zero_grad()
                probs = torch.softmax(model(x), dim=1)
                loss = nn.functional.cross_entropy(probs, y)
                loss.backward()
                optimizer.step()
            """, line=9, fixed="""
            import torch
            import torch.nn as nn

            model = nn.Linear(10, 5)
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            x, y = torch.randn(32, 10), torch.randint(0, 5, (32,))
            for step in range(100):
                optimizer.zero_grad()
                probs = model(x)
                loss = nn.functional.cross_entropy(probs, y)
                loss.backward()
                optimizer.step()
            """, note="softmax inline in the training loop, functional loss"),
        Invalid("""
            import torch
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(4, 3)
                    self.softmax = nn.Softmax(dim=1)

                def forward(self, x):
                    x = self.fc(x)
                    return self.softmax(x)

            model = Net()
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
            for epoch in range(10):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """, line=8, fixed="""
            import torch
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(4, 3)
                    self.softmax = nn.Softmax(dim=1)

                def forward(self, x):
                    x = self.fc(x)
                    return x

            model = Net()
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
            for epoch in range(10):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """, note="a softmax layer held in an attribute, called at the end of forward"),
        Invalid("""
            import torch
            from torch import nn

            net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 4), nn.Softmax(dim=1))
            loss_fn = nn.CrossEntropyLoss()
            opt = torch.optim.SGD(net.parameters(), lr=0.05)
            data = [(torch.randn(16, 8), torch.randint(0, 4, (16,))) for _ in range(4)]
            for epoch in range(3):
                for xb, yb in data:
                    opt.zero_grad()
                    out = net(xb)
                    loss = loss_fn(out, yb)
                    loss.backward()
                    opt.step()
            """, note="Softmax layer at the end of a Sequential"),
    ]
    VALID = [
        Valid("""
            import torch
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(4, 3)

                def forward(self, x):
                    return self.fc(x)

            model = Net()
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
            for epoch in range(10):
                optimizer.zero_grad()
                out = model(x)
                loss = criterion(out, y)
                loss.backward()
                optimizer.step()
                probs = torch.softmax(out, dim=1)  # softmax for reporting only
            """, note="logits into the loss, softmax only for reporting"),
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
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
            for epoch in range(10):
                optimizer.zero_grad()
                loss = F.nll_loss(model(x), y)
                loss.backward()
                optimizer.step()
            """, note="log_softmax + NLLLoss is correct"),
    ]

    def check(self, ctx):
        seen = set()
        for call, lt, loss in loss_calls(ctx, "CrossEntropyLoss"):
            prod = prediction_producer(ctx, call)
            if prod.where in seen:
                continue  # one forward activation feeding many loss calls: report it once
            seen.add(prod.where)
            if prod.kind not in ("softmax", "log_softmax") or prod.where is None:
                continue
            act = "softmax" if prod.kind == "softmax" else "log_softmax"
            src = f" in {prod.describe}" if prod.node is not None else ""
            fix = remove_activation_fix(ctx, prod, act)
            node = prod.node.id if prod.node is not None else call.id
            if act == "log_softmax":
                # log_softmax is idempotent: CrossEntropy(log_softmax(z)) == CrossEntropy(z).
                # Redundant work, not a wrong loss.
                msg = (f"log_softmax{src} before CrossEntropyLoss (line {call.span.line}) is redundant "
                       f"(the loss applies log_softmax itself); harmless, but use NLLLoss or drop it")
                yield self.finding(ctx, prod.where, msg, node=node, fix=fix, severity="info")
                continue
            msg = (f"softmax{src} feeds CrossEntropyLoss (line {call.span.line}), which applies "
                   f"log_softmax itself: pass the raw logits")
            yield self.finding(ctx, prod.where, msg, node=node, fix=fix)
