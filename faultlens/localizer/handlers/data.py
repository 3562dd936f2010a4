"""data: the statements that load the inputs and the labels; no automatic patch.

Located: the statements that load, select or scale the model's inputs and the loss's targets,
followed back from the DataLoader's dataset, the forward's input and the loss call (the
DataLoader when nothing else is found). Not patched: the summary says what to look at.
"""
from __future__ import annotations

from faultlens.localizer import Collector
from faultlens.localizer.handlers._base import Example, FaultHandler
from faultlens.localizer.handlers._common import locate_data


class Data(FaultHandler):
    fault_type = "data"
    EXAMPLES = [
        Example("""
            import numpy as np
            import torch
            import torch.nn as nn
            from torch.utils.data import DataLoader, TensorDataset
            X = np.random.rand(100, 4).astype(np.float32)
            labels = np.random.randint(0, 3, size=100) - 1
            ds = TensorDataset(torch.from_numpy(X), torch.from_numpy(labels))
            loader = DataLoader(ds, batch_size=10, shuffle=True)
            model = nn.Linear(4, 3)
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            for epoch in range(5):
                for xb, yb in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(xb), yb)
                    loss.backward()
                    optimizer.step()
            """,
            lines=(("data", 7), ("data", 5), ("data", 6)),
            detections=(("loss_not_decreasing", {}),),
            note="labels shifted to -1..1: the data statements, no patch"),
    ]

    def locate(self, c: Collector) -> None:
        locate_data(c, False)
