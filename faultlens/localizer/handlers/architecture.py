"""architecture: the layers to change and where their sizes are set; no automatic patch.

Located: the gradient statements of a custom autograd Function whose backward disagrees with
its forward, the layer whose forward raised (crashed runs), the output layer when class targets
exceed its width (an out-of-bounds crash), the evidence layers (else the graph's), at most two
constructions; then where the given layers' size arguments are set (a hyperparameter's
definition, or the model construction call's argument that a constructor parameter gets).
Not patched: the summary says what to look at.
"""
from __future__ import annotations

from typing import Any

from faultlens.localizer import Collector, _hp_definitions, resolve_path
from faultlens.localizer import source as src
from faultlens.localizer.handlers._base import Example, FaultHandler
from faultlens.localizer.handlers._common import locate_custom_backward


class Architecture(FaultHandler):
    fault_type = "architecture"
    EXAMPLES = [
        Example("""
            import torch
            import torch.nn as nn
            HIDDEN = 2
            class Net(nn.Module):
                def __init__(self, n_in):
                    super().__init__()
                    self.fc1 = nn.Linear(n_in, HIDDEN)
                    self.fc2 = nn.Linear(HIDDEN, 10)
                def forward(self, x):
                    return self.fc2(torch.relu(self.fc1(x)))
            model = Net(64)
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            x, y = torch.randn(128, 64), torch.randint(0, 10, (128,))
            for epoch in range(30):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """,
            lines=(("construction", 7), ("definition", 11), ("definition", 3)),
            detections=(("capacity_limit", {"problem": "narrow"}),),
            nodes=("layer:example.py:7:Net.fc1",),
            note="a two-unit bottleneck: the layer, the call argument of its input size, the width's definition"),
        Example("""
            import torch
            import torch.nn as nn
            model = nn.Sequential(
                nn.Linear(4, 8),
                nn.ReLU(),
                nn.Linear(8, 2),
            )
            criterion = nn.CrossEntropyLoss()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
            for step in range(5):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """,
            lines=(("crash", 14), ("construction", 6)),
            crash={"kind": "other", "path": "example.py", "line": 14, "column": 5, "end_line": 14, "end_column": 34,
                   "message": "Target 2 is out of bounds."},
            note="class targets beyond the output width: the crash, then the output layer"),
    ]

    def locate(self, c: Collector) -> None:
        locate_custom_backward(c)
        crash = c.crash
        g = c.graph
        given = [n for n in (c.node(x) for x in c.nodes) if n is not None and n.kind in ("layer", "op")]
        if crash and crash.get("layer") and c.node(crash.get("layer")) is not None:
            given = [c.node(crash["layer"])] + given  # the layer whose forward raised
        if crash and "out of bounds" in str(crash.get("message") or ""):
            # class targets beyond the output width: the output layer is the statement to change
            from faultlens.models.symptoms.graph_facts import GraphFacts
            lin = [n for n in g.nodes("layer") if n.get("layer_type") == "Linear"]
            last = GraphFacts.of(g).last_forward_items()
            outs = [n for n in last if n.kind == "layer" and n.get("layer_type") == "Linear"] or lin[-1:]
            given = outs + given
        layers = given or [n for n in g.nodes("layer") if n.get("layer_type") not in (None, "Sequential", "ModuleList")]
        for n in layers[:2]:
            c.add_span(n.get("expr_span") or n.span, n.id, "construction")
        for n in given[:2]:
            _width_origins(c, n)


def _width_origins(c: Collector, layer: Any) -> None:
    """Where the values of a layer's size arguments are set when its construction only reads
    them: a hyperparameter's definition, or the argument of the model's construction call
    that a constructor parameter (``nn.Linear(n_dim, ...)`` in ``__init__(self, n_dim)``) gets.
    That is the statement a person edits to widen the layer."""
    g = c.graph
    spans = layer.get("arg_spans") or {}
    hps = layer.get("arg_hps") or {}
    owner = layer.get("owner")
    for arg, span in spans.items():
        if not span or arg in ("bias", "inplace", "batch_first", "bidirectional", "dropout"):
            continue
        defs = _hp_definitions(g, layer.id, arg) or ([c.node(hps[arg])] if hps.get(arg) else [])
        for h in [d for d in defs if d is not None][:1]:
            c.add_span(h.get("value_span") or h.span, h.id, "definition")
        if defs:
            continue
        text = src.text_at(resolve_path(g, span["path"]), span) if isinstance(span, dict) else None
        if not text or not text.isidentifier():
            continue
        for m in g.nodes("model"):
            margs = m.get("arg_spans") or {}
            if owner and m.get("class") == owner and margs.get(text):
                c.add_span(margs[text], m.id, "definition")
