"""loss_function: the loss's construction and call; the loss that matches the output.

Located: the first loss's construction and its call, then the activations among the evidence
nodes. Patched (the output/loss contract, shared with ``activation``): raw scores into
``NLLLoss`` -> ``CrossEntropyLoss``, logits into ``BCELoss`` -> ``BCEWithLogitsLoss``, else a
softmax/sigmoid before a logits loss removed.
"""
from __future__ import annotations

from faultlens.localizer import Collector
from faultlens.localizer.handlers._base import EditPlan, Example, FaultHandler
from faultlens.localizer.handlers._common import locate_activation, locate_loss
from faultlens.localizer.handlers._output import output_pairing
from faultlens.localizer.patches import CommandLine


class LossFunction(FaultHandler):
    fault_type = "loss_function"
    EXAMPLES = [
        Example("""
            import torch
            import torch.nn as nn
            model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 5))
            criterion = nn.NLLLoss()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            x, y = torch.randn(100, 20), torch.randint(0, 5, (100,))
            for epoch in range(10):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """,
            lines=(("construction", 4), ("call", 9)),
            detections=(("output_range_mismatch", {"problem": "scores_into_nll"}),),
            diff="""
            faultlens: loss_function: use CrossEntropyLoss instead of NLLLoss
            --- ./example.py
            +++ ./example.py
            @@ -1,7 +1,8 @@
             import torch
             import torch.nn as nn
             model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 5))
            -criterion = nn.NLLLoss()
            +# faultlens: use CrossEntropyLoss instead of NLLLoss
            +criterion = nn.CrossEntropyLoss()
             optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
             x, y = torch.randn(100, 20), torch.randint(0, 5, (100,))
             for epoch in range(10):
            """,
            note="NLLLoss on raw scores"),
        Example("""
            import torch
            import torch.nn as nn
            import torch.nn.functional as F
            model = nn.Linear(6, 1)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(50, 6), torch.randint(0, 2, (50, 1)).float()
            for epoch in range(10):
                optimizer.zero_grad()
                loss = F.binary_cross_entropy(model(x), y)
                loss.backward()
                optimizer.step()
            """,
            lines=(("construction", 9), ("call", 9)),
            detections=(("output_range_mismatch", {"problem": "logits_into_bce"}),),
            diff="""
            faultlens: loss_function: use binary_cross_entropy_with_logits instead of binary_cross_entropy
            --- ./example.py
            +++ ./example.py
            @@ -6,6 +6,7 @@
             x, y = torch.randn(50, 6), torch.randint(0, 2, (50, 1)).float()
             for epoch in range(10):
                 optimizer.zero_grad()
            -    loss = F.binary_cross_entropy(model(x), y)
            +    # faultlens: use binary_cross_entropy_with_logits instead of binary_cross_entropy
            +    loss = F.binary_cross_entropy_with_logits(model(x), y)
                 loss.backward()
                 optimizer.step()
            """,
            note="functional BCE on logits"),
    ]

    def locate(self, c: Collector) -> None:
        locate_loss(c)
        acts = [n for n in c.nodes if (c.node(n) is not None and c.node(n).kind in ("layer", "op"))]
        if acts:
            locate_activation(c, acts)

    def patch(self, fault, g, tv, locations) -> EditPlan | CommandLine | None:
        return output_pairing(fault, g)
