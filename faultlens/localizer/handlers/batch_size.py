"""batch_size: where the batch size is defined and the DataLoader's ``batch_size=``.

Located: the definition of the first DataLoader's ``batch_size``, then the argument. Patched:
a batch size <= 2 -> 32, >= 2048 -> 256 (at its definition, or on the command line).
"""
from __future__ import annotations

from faultlens.localizer import Collector
from faultlens.localizer.handlers._base import EditPlan, Example, FaultHandler
from faultlens.localizer.handlers._common import add_hp
from faultlens.localizer.handlers._values import replace_value
from faultlens.localizer.patches import CommandLine


class BatchSize(FaultHandler):
    fault_type = "batch_size"
    EXAMPLES = [
        Example("""
            import torch
            import torch.nn as nn
            from torch.utils.data import DataLoader, TensorDataset
            ds = TensorDataset(torch.randn(256, 8), torch.randint(0, 2, (256,)))
            loader = DataLoader(ds, batch_size=1, shuffle=True)
            model = nn.Linear(8, 2)
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            for epoch in range(2):
                for xb, yb in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(xb), yb)
                    loss.backward()
                    optimizer.step()
            """,
            lines=(("definition", 5), ("use", 5)),
            detections=(("oscillating_loss", {}),),
            diff="""
            faultlens: batch_size: batch size: 1 -> 32
            --- ./example.py
            +++ ./example.py
            @@ -2,7 +2,8 @@
             import torch.nn as nn
             from torch.utils.data import DataLoader, TensorDataset
             ds = TensorDataset(torch.randn(256, 8), torch.randint(0, 2, (256,)))
            -loader = DataLoader(ds, batch_size=1, shuffle=True)
            +# faultlens: batch size: 1 -> 32
            +loader = DataLoader(ds, batch_size=32, shuffle=True)
             model = nn.Linear(8, 2)
             criterion = nn.CrossEntropyLoss()
             optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            """,
            note="batches of one"),
        Example("""
            import torch
            import torch.nn as nn
            from torch.utils.data import DataLoader, TensorDataset
            BATCH = 4096
            ds = TensorDataset(torch.randn(8192, 8), torch.randint(0, 2, (8192,)))
            loader = DataLoader(ds, batch_size=BATCH)
            model = nn.Linear(8, 2)
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            for epoch in range(2):
                for xb, yb in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(xb), yb)
                    loss.backward()
                    optimizer.step()
            """,
            lines=(("definition", 4), ("use", 6)),
            detections=(("too_few_steps", {"one_step_epochs": True}),),
            diff="""
            faultlens: batch_size: batch size: 4096 -> 256
            --- ./example.py
            +++ ./example.py
            @@ -1,7 +1,8 @@
             import torch
             import torch.nn as nn
             from torch.utils.data import DataLoader, TensorDataset
            -BATCH = 4096
            +# faultlens: batch size: 4096 -> 256
            +BATCH = 256
             ds = TensorDataset(torch.randn(8192, 8), torch.randint(0, 2, (8192,)))
             loader = DataLoader(ds, batch_size=BATCH)
             model = nn.Linear(8, 2)
            """,
            note="a batch of 4096 from a constant"),
    ]

    def locate(self, c: Collector) -> None:
        g = c.graph
        dls = g.nodes("dataloader")
        if dls:
            add_hp(c, dls[0], "batch_size", "batch_size")
        else:
            for h in g.nodes("hyperparameter", hp="batch_size")[:1]:
                c.add_span(h.get("value_span") or h.span, h.id, "definition")

    def patch(self, fault, g, tv, locations) -> EditPlan | CommandLine | None:
        dls = g.nodes("dataloader")
        return replace_value(g, dls[0] if dls else None, "batch_size", "batch_size",
                             lambda v: 32 if v <= 2 else (256 if v >= 2048 else None), "batch size")
