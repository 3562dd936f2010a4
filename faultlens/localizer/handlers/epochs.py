"""epochs: where the epoch count is defined and the epoch loop; three times as many.

Located: the definition of the epoch loop's ``range`` bound, then the loop; for a training
loop with no bound of its own (``while True``) the test of the ``if ...: break`` that ends it,
then the definition of what it compares against. Patched: epochs (or that iteration count)
x3, edited where the value is defined (or on the command line).
"""
from __future__ import annotations

from faultlens.localizer import Collector, _hp_definitions
from faultlens.localizer.handlers._base import EditPlan, Example, FaultHandler
from faultlens.localizer.handlers._common import add_hp
from faultlens.localizer.handlers._values import replace_value
from faultlens.localizer.patches import CommandLine


class Epochs(FaultHandler):
    fault_type = "epochs"
    EXAMPLES = [
        Example("""
            import torch
            import torch.nn as nn
            EPOCHS = 2
            model = nn.Linear(5, 1)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
            x, y = torch.randn(64, 5), torch.randn(64, 1)
            for epoch in range(EPOCHS):
                optimizer.zero_grad()
                loss = ((model(x) - y) ** 2).mean()
                loss.backward()
                optimizer.step()
            """,
            lines=(("definition", 3), ("use", 7)),
            detections=(("still_improving", {}),),
            diff="""
            faultlens: epochs: epochs: 2 -> 6
            --- ./example.py
            +++ ./example.py
            @@ -1,6 +1,7 @@
             import torch
             import torch.nn as nn
            -EPOCHS = 2
            +# faultlens: epochs: 2 -> 6
            +EPOCHS = 6
             model = nn.Linear(5, 1)
             optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
             x, y = torch.randn(64, 5), torch.randn(64, 1)
            """,
            note="a module constant epoch count"),
        Example("""
            import argparse
            import torch
            import torch.nn as nn
            parser = argparse.ArgumentParser()
            parser.add_argument("--epochs", type=int, default=1)
            args = parser.parse_args()
            model = nn.Linear(5, 1)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
            x, y = torch.randn(64, 5), torch.randn(64, 1)
            for epoch in range(args.epochs):
                optimizer.zero_grad()
                loss = ((model(x) - y) ** 2).mean()
                loss.backward()
                optimizer.step()
            """,
            lines=(("definition", 5), ("use", 10)),
            detections=(("too_few_steps", {}),),
            diff="""
            faultlens: epochs: epochs: 1 -> 3
            --- ./example.py
            +++ ./example.py
            @@ -2,7 +2,8 @@
             import torch
             import torch.nn as nn
             parser = argparse.ArgumentParser()
            -parser.add_argument("--epochs", type=int, default=1)
            +# faultlens: epochs: 1 -> 3
            +parser.add_argument("--epochs", type=int, default=3)
             args = parser.parse_args()
             model = nn.Linear(5, 1)
             optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
            """,
            note="an argparse default epoch count"),
        Example("""
            import torch
            import torch.nn as nn
            max_iters = 20
            model = nn.Linear(5, 1)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
            x, y = torch.randn(64, 5), torch.randn(64, 1)
            iter_num = 0
            while True:
                optimizer.zero_grad()
                loss = ((model(x) - y) ** 2).mean()
                loss.backward()
                optimizer.step()
                iter_num += 1
                if iter_num >= max_iters:
                    break
            """,
            lines=(("use", 14), ("definition", 3)),
            detections=(("too_few_steps", {}),),
            diff="""
            faultlens: epochs: iterations: 20 -> 60
            --- ./example.py
            +++ ./example.py
            @@ -1,6 +1,7 @@
             import torch
             import torch.nn as nn
            -max_iters = 20
            +# faultlens: iterations: 20 -> 60
            +max_iters = 60
             model = nn.Linear(5, 1)
             optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
             x, y = torch.randn(64, 5), torch.randn(64, 1)
            """,
            note="a while-True loop ended by a break on an iteration count"),
        Example("""
            import torch
            import torch.nn as nn
            model = nn.Linear(5, 1)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
            x, y = torch.randn(64, 5), torch.randn(64, 1)
            step = 0
            while True:
                optimizer.zero_grad()
                loss = ((model(x) - y) ** 2).mean()
                loss.backward()
                optimizer.step()
                step += 1
                if step % 10 == 0:
                    print(step, loss.item())
                if step > 10:
                    break
            """,
            lines=(("use", 15),),
            detections=(("too_few_steps", {}),),
            note="a literal bound in the break's test: located there, no patch"),
        Example("""
            import torch
            import torch.nn as nn
            max_iters, accum, eval_only = 30, 2, False
            model = nn.Linear(5, 1)
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
            x, y = torch.randn(64, 5), torch.randn(64, 1)
            iter_num = 0
            while True:
                if iter_num == 0 and eval_only:
                    break
                for micro_step in range(accum):
                    loss = ((model(x) - y) ** 2).mean() / accum
                    loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                iter_num += 1
                if iter_num > max_iters:
                    break
            """,
            lines=(("use", 17), ("use", 9), ("definition", 3)),
            detections=(("too_few_steps", {}),),
            diff="""
            faultlens: epochs: iterations: 30 -> 90
            --- ./example.py
            +++ ./example.py
            @@ -1,6 +1,7 @@
             import torch
             import torch.nn as nn
            -max_iters, accum, eval_only = 30, 2, False
            +# faultlens: iterations: 30 -> 90
            +max_iters, accum, eval_only = 90, 2, False
             model = nn.Linear(5, 1)
             optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
             x, y = torch.randn(64, 5), torch.randn(64, 1)
            """,
            note="a while-True loop around gradient accumulation: the counter's bound first, then a flag's break"),
    ]

    def locate(self, c: Collector) -> None:
        g = c.graph
        loops = _epoch_loops(g)
        if loops:
            add_hp(c, loops[0], "range", "epochs")
            if not any(l.role == "use" for l in c.out):
                c.add_span(loops[0].span, loops[0].id, "use")
            return
        ended = _break_bounded(g)
        if ended is not None:
            # ``while True: ... if iter_num > max_iters: break``: the break's test is the bound
            for sp in ended.get("break_spans")[:2]:
                c.add_span(sp, ended.id, "use", "the loop ends here")
            for h in _hp_definitions(g, ended.id, "range")[:2]:
                c.add_span(h.get("value_span") or h.span, h.id, "definition")
            return
        for h in g.nodes("hyperparameter", hp="epochs")[:1]:
            c.add_span(h.get("value_span") or h.span, h.id, "definition")

    def patch(self, fault, g, tv, locations) -> EditPlan | CommandLine | None:
        loops = _epoch_loops(g)
        if not loops:
            ended = _break_bounded(g)
            if ended is not None and _hp_definitions(g, ended.id, "range"):
                return replace_value(g, ended, "range", "epochs", lambda v: v * 3, "iterations")
        return replace_value(g, loops[0] if loops else None, "range", "epochs", lambda v: v * 3, "epochs")


def _epoch_loops(g):
    """The epoch loops with a bound of their own (a ``range``, not a break that ends them)."""
    return [lp for lp in g.nodes("loop", role="epoch") if not lp.get("break_spans")]


def _break_bounded(g):
    """The training's unbounded loop (``while True``, ``itertools.count``) that a break ends
    (the analyzer's ``break_spans``), None when there is none."""
    return next((lp for lp in g.nodes("loop") if lp.get("unbounded") and lp.get("break_spans")
                 and lp.get("role") in ("epoch", "step")), None)
