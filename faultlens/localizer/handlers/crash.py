"""The statement that raised: first among the locations of every fault of a crashed run."""
from __future__ import annotations

import os
from typing import ClassVar

from faultlens.localizer import Collector, Location, resolve_path, user_path
from faultlens.localizer.handlers._base import Example


class CrashStatement:
    """Adds the crash record's statement (role ``crash``). Its path is the record's, resolved
    against the graph's root (the program the user gave when the graph is missing, or when the
    record's file does not exist). Not a fault type: it runs before the type's handler."""

    #: run with fault type ``architecture`` (its handler adds the layers after the crash line)
    EXAMPLES: ClassVar[list[Example]] = [
        Example("""
            import torch
            import torch.nn as nn
            model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(6, 2))
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x = torch.randn(16, 4)
            for step in range(5):
                optimizer.zero_grad()
                loss = model(x).sum()
                loss.backward()
                optimizer.step()
            """,
            lines=(("crash", 8), ("construction", 3)),
            crash={"kind": "shape_mismatch", "path": "example.py", "line": 8, "column": 5, "end_line": 8,
                   "end_column": 30},
            note="a shape mismatch in the forward: the statement that raised comes first"),
    ]

    def locate(self, c: Collector, program: str | None = None) -> None:
        crash = c.crash
        if not (crash and crash.get("line")):
            return
        graph = c.graph
        p = crash.get("path") or program or ""
        ab = p if os.path.isabs(p) else (resolve_path(graph, p) if graph is not None else os.path.abspath(p))
        if not os.path.exists(ab) and program:
            ab = os.path.abspath(program)
        line = int(crash["line"])
        c.add(Location(user_path(ab, c.cwd), line, int(crash.get("column") or 1), int(crash.get("end_line") or line),
                       int(crash.get("end_column") or 1), crash.get("node"), "crash", ab))
