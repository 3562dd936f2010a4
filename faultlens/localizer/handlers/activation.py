"""activation: the activation's construction and its call in ``forward``; its removal.

Located, in order: the gradient statements of a custom autograd Function whose backward
disagrees with its forward; the model's last layer and its call when BCELoss was given values
outside [0, 1] (the sigmoid is missing there); the activations among the evidence nodes (else
the layers/ops given, else the graph's), at most two, each with its call in ``forward``; the
loss too when the output/loss contract is broken (``output_range_mismatch``). Patched as
``loss_function``: a softmax/sigmoid before a logits loss removed (an op call replaced by its
input, an ``nn.Softmax`` element of a Sequential dropped), or the loss swapped.
"""
from __future__ import annotations

from faultlens.localizer import Collector
from faultlens.localizer.handlers._base import EditPlan, Example, FaultHandler
from faultlens.localizer.handlers._common import (is_activation, layer_with_call, locate_activation,
                                                  locate_custom_backward, locate_loss)
from faultlens.localizer.handlers._output import output_pairing
from faultlens.localizer.patches import CommandLine
from faultlens.taxonomy import BCE_RANGE_MESSAGE


class Activation(FaultHandler):
    fault_type = "activation"
    EXAMPLES = [
        Example("""
            import torch
            import torch.nn as nn
            import torch.nn.functional as F
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(10, 32)
                    self.fc2 = nn.Linear(32, 4)
                def forward(self, x):
                    x = F.relu(self.fc1(x))
                    return F.softmax(self.fc2(x), dim=1)
            model = Net()
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(64, 10), torch.randint(0, 4, (64,))
            for epoch in range(20):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """,
            lines=(("construction", 11), ("construction", 13), ("call", 18)),
            detections=(("output_range_mismatch", {"problem": "probabilities_into_logit_loss"}),),
            nodes=("op:example.py:11:Net.softmax",),
            diff="""
            faultlens: activation: remove the softmax before CrossEntropyLoss (it expects raw logits)
            --- ./example.py
            +++ ./example.py
            @@ -8,7 +8,8 @@
                     self.fc2 = nn.Linear(32, 4)
                 def forward(self, x):
                     x = F.relu(self.fc1(x))
            -        return F.softmax(self.fc2(x), dim=1)
            +        # faultlens: remove the softmax before CrossEntropyLoss (it expects raw logits)
            +        return self.fc2(x)
             model = Net()
             criterion = nn.CrossEntropyLoss()
             optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            """,
            note="F.softmax before CrossEntropyLoss"),
        Example("""
            import torch
            import torch.nn as nn
            model = nn.Sequential(
                nn.Linear(10, 32),
                nn.ReLU(),
                nn.Linear(32, 4),
                nn.Softmax(dim=1),
            )
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            x, y = torch.randn(64, 10), torch.randint(0, 4, (64,))
            for epoch in range(20):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """,
            lines=(("construction", 5), ("construction", 7), ("construction", 9), ("call", 14)),
            detections=(("output_range_mismatch", {"problem": "probabilities_into_logit_loss"}),),
            diff="""
            faultlens: activation: drop the nn.Softmax layer before CrossEntropyLoss (it expects raw logits)
            --- ./example.py
            +++ ./example.py
            @@ -4,7 +4,7 @@
                 nn.Linear(10, 32),
                 nn.ReLU(),
                 nn.Linear(32, 4),
            -    nn.Softmax(dim=1),
            +# faultlens: drop the nn.Softmax layer before CrossEntropyLoss (it expects raw logits)
             )
             criterion = nn.CrossEntropyLoss()
             optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            """,
            note="an nn.Softmax element of a Sequential"),
        Example("""
            import torch
            import torch.nn as nn
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(12, 1)
                    self.out = nn.Sigmoid()
                def forward(self, x):
                    return self.out(self.fc(x))
            model = Net()
            criterion = nn.BCEWithLogitsLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(40, 12), torch.randint(0, 2, (40, 1)).float()
            for epoch in range(20):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """,
            lines=(("construction", 7), ("call", 9), ("construction", 11), ("call", 16)),
            detections=(("output_range_mismatch", {"problem": "probabilities_into_logit_loss"}),),
            diff="""
            faultlens: activation: skip self.out (Sigmoid) before BCEWithLogitsLoss (it expects raw logits)
            --- ./example.py
            +++ ./example.py
            @@ -6,7 +6,8 @@
                     self.fc = nn.Linear(12, 1)
                     self.out = nn.Sigmoid()
                 def forward(self, x):
            -        return self.out(self.fc(x))
            +        # faultlens: skip self.out (Sigmoid) before BCEWithLogitsLoss (it expects raw logits)
            +        return self.fc(x)
             model = Net()
             criterion = nn.BCEWithLogitsLoss()
             optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            """,
            note="a sigmoid module attribute before BCEWithLogitsLoss"),
        Example("""
            import torch
            import torch.nn as nn
            model = nn.Sequential(nn.Linear(8, 64), nn.Sigmoid(), nn.Linear(64, 64), nn.Sigmoid(), nn.Linear(64, 2))
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(64, 8), torch.randint(0, 2, (64,))
            for epoch in range(20):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """,
            lines=(("construction", 3),),
            detections=(("vanishing_gradient", {}),),
            note="saturating activations: located, not patched"),
        Example("""
            import torch
            import torch.nn as nn
            class Decoder(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(4, 16)
                    self.fc2 = nn.Linear(16, 8)
                def forward(self, z):
                    h = torch.relu(self.fc1(z))
                    return self.fc2(h)
            model = Decoder()
            criterion = nn.BCELoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            z, x = torch.randn(16, 4), torch.rand(16, 8)
            for step in range(5):
                optimizer.zero_grad()
                loss = criterion(model(z), x)
                loss.backward()
                optimizer.step()
            """,
            lines=(("crash", 17), ("construction", 7), ("call", 10), ("construction", 9)),
            crash={"kind": "other", "path": "example.py", "line": 17, "column": 5, "end_line": 17, "end_column": 36,
                   "message": "all elements of input should be between 0 and 1"},
            note="BCELoss given a Linear output: the last layer and its call, where the sigmoid belongs"),
        Example("""
            import torch
            class MyReLU(torch.autograd.Function):
                @staticmethod
                def forward(ctx, x):
                    ctx.save_for_backward(x)
                    return x.clamp(min=0)
                @staticmethod
                def backward(ctx, grad_output):
                    x, = ctx.saved_tensors
                    grad_x = grad_output.clone()
                    grad_x[x > 0] = 0
                    return grad_x
            w = torch.randn(10, 1, requires_grad=True)
            x, y = torch.randn(32, 10), torch.randn(32, 1)
            for t in range(20):
                loss = (MyReLU.apply(x @ w) - y).pow(2).sum()
                loss.backward()
                with torch.no_grad():
                    w -= 1e-3 * w.grad
                    w.grad.zero_()
            """,
            lines=(("backward", 11), ("backward", 10)),
            detections=(("custom_gradient_mismatch", {"elementwise": True}),),
            nodes=("function:example.py:2:MyReLU",),
            note="a custom ReLU whose backward masks the wrong side: its gradient statements, the mask first"),
    ]

    def locate(self, c: Collector) -> None:
        locate_custom_backward(c)
        if _probabilities_missing(c):
            # BCELoss given values outside [0, 1]: the squashing activation is missing after the
            # model's last layer, so that layer and its call in forward are where it belongs
            from faultlens.models.symptoms.graph_facts import GraphFacts
            for last in GraphFacts.of(c.graph).last_forward_items()[:1]:
                if not is_activation(last):
                    layer_with_call(c, last)
        locate_activation(c, c.nodes)
        if any(d.symptom == "output_range_mismatch" for d in c.detections):
            locate_loss(c)

    def patch(self, fault, g, tv, locations) -> EditPlan | CommandLine | None:
        return output_pairing(fault, g)


def _probabilities_missing(c: Collector) -> bool:
    """A probability loss (BCELoss) was given values outside [0, 1]: torch's range check raised
    ("all elements of input should be between 0 and 1"), or the run saw logits fed to it."""
    if c.crash and BCE_RANGE_MESSAGE in str(c.crash.get("message") or ""):
        return True
    return any(d.symptom == "output_range_mismatch" and (d.details or {}).get("problem") == "logits_into_bce"
               for d in c.detections)
