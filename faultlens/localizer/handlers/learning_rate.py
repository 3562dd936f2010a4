"""learning_rate: where the rate is defined and where the optimizer takes it; a new value.

Located: the definition(s) of the flagged optimizer's ``lr`` (a literal, a module constant, an
argparse default), then its ``lr=`` argument; with ``lr_collapse``, first the scheduler's decay
argument and construction. Patched: the value at its definition (or on the command line), on
a fixed ladder from the value the program uses; a collapsing schedule's ``gamma`` -> 0.5.
"""
from __future__ import annotations

from faultlens.localizer import Collector, _hp_definitions
from faultlens.localizer.handlers._base import EditPlan, Example, FaultHandler
from faultlens.localizer.handlers._common import add_hp, optimizers_that_ran
from faultlens.localizer.handlers._values import replace_value
from faultlens.localizer.patches import CommandLine, round_down


class LearningRate(FaultHandler):
    fault_type = "learning_rate"
    EXAMPLES = [
        Example("""
            import torch
            import torch.nn as nn
            LR = 5.0
            model = nn.Linear(10, 2)
            optimizer = torch.optim.SGD(model.parameters(), lr=LR)
            criterion = nn.CrossEntropyLoss()
            x, y = torch.randn(64, 10), torch.randint(0, 2, (64,))
            for epoch in range(20):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """,
            lines=(("definition", 3), ("use", 5)),
            detections=(("diverging_loss", {}),),
            diff="""
            faultlens: learning_rate: learning rate: 5 -> 0.1 (an SGD rate of 0.1)
            --- ./example.py
            +++ ./example.py
            @@ -1,6 +1,7 @@
             import torch
             import torch.nn as nn
            -LR = 5.0
            +# faultlens: learning rate: 5 -> 0.1 (an SGD rate of 0.1)
            +LR = 0.1
             model = nn.Linear(10, 2)
             optimizer = torch.optim.SGD(model.parameters(), lr=LR)
             criterion = nn.CrossEntropyLoss()
            """,
            note="SGD at lr 5 from a module constant"),
        Example("""
            import argparse
            import torch
            import torch.nn as nn
            parser = argparse.ArgumentParser()
            parser.add_argument("--lr", type=float, default=1e-7)
            args = parser.parse_args()
            model = nn.Linear(10, 1)
            optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
            x, y = torch.randn(64, 10), torch.randn(64, 1)
            for step in range(100):
                optimizer.zero_grad()
                loss = ((model(x) - y) ** 2).mean()
                loss.backward()
                optimizer.step()
            """,
            lines=(("definition", 5), ("use", 8)),
            detections=(("slow_convergence", {}),),
            diff="""
            faultlens: learning_rate: learning rate: 1e-07 -> 0.001 (the usual Adam rate)
            --- ./example.py
            +++ ./example.py
            @@ -2,7 +2,8 @@
             import torch
             import torch.nn as nn
             parser = argparse.ArgumentParser()
            -parser.add_argument("--lr", type=float, default=1e-7)
            +# faultlens: learning rate: 1e-07 -> 0.001 (the usual Adam rate)
            +parser.add_argument("--lr", type=float, default=0.001)
             args = parser.parse_args()
             model = nn.Linear(10, 1)
             optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
            """,
            note="Adam below 1e-5 from an argparse default"),
        Example("""
            import torch
            import torch.nn as nn
            model = nn.Linear(10, 1)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.01)
            x, y = torch.randn(64, 10), torch.randn(64, 1)
            for epoch in range(30):
                optimizer.zero_grad()
                loss = ((model(x) - y) ** 2).mean()
                loss.backward()
                optimizer.step()
                scheduler.step()
            """,
            lines=(("definition", 5), ("construction", 5), ("definition", 4), ("use", 4)),
            detections=(("lr_collapse", {}),),
            diff="""
            faultlens: learning_rate: scheduler decay factor gamma: 0.01 -> 0.5 (the learning rate fell below 1e-3 of its start before half the run)
            --- ./example.py
            +++ ./example.py
            @@ -2,7 +2,8 @@
             import torch.nn as nn
             model = nn.Linear(10, 1)
             optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            -scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.01)
            +# faultlens: scheduler decay factor gamma: 0.01 -> 0.5 (the learning rate fell below 1e-3 of its start before half the run)
            +scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
             x, y = torch.randn(64, 10), torch.randn(64, 1)
             for epoch in range(30):
                 optimizer.zero_grad()
            """,
            note="a StepLR decay that drives the lr to ~0"),
    ]

    def locate(self, c: Collector) -> None:
        g = c.graph
        if any(d.symptom == "lr_collapse" for d in c.detections):
            for sch in g.nodes("scheduler")[:1]:  # the schedule that drives the lr to ~0
                spans = sch.get("arg_spans") or {}
                for arg in ("gamma", "lr_lambda", "T_max", "step_size"):
                    defs = _hp_definitions(g, sch.id, arg)
                    for h in defs[:1]:
                        c.add_span(h.get("value_span") or h.span, h.id, "definition")
                    if arg in spans and spans[arg] and not defs:
                        c.add_span(spans[arg], sch.id, "definition")
                    if defs or arg in spans:
                        break
                c.add_span(sch.get("expr_span") or sch.span, sch.id, "construction")
        opts = [n for n in (c.node(x) for x in c.nodes) if n is not None and n.kind == "optimizer"] or g.nodes("optimizer")
        if not opts:
            for h in g.nodes("hyperparameter", hp="lr")[:2]:
                c.add_span(h.get("value_span") or h.span, h.id, "definition")
            return
        add_hp(c, opts[0], "lr", "lr")

    def patch(self, fault, g, tv, locations) -> EditPlan | CommandLine | None:
        """The learning-rate patch. Its new value follows a fixed ladder from the value the program
        uses (and the optimizer's family), never from the sampled figures that found the fault: the
        probes sample every Nth step, so the update ratio or lambda_max of two runs of the same
        program differ, and a value scaled by them flipped between runs (lr 1 -> 0.0001 in one run,
        -> 0.001 in the next). The patch text names no sampled figure either (the report's symptoms
        carry them), so the same evidence gives the same patch, byte for byte.

        Too high: a factor 10 smaller (one significant digit: 1 -> 0.1, 0.5 -> 0.05); SGD whose
        effective step lr/(1-momentum) exceeds 1 goes to an effective 0.1; an adaptive
        optimizer above 1e-3 goes straight to 1e-3, the usual rate of Adam and its relatives (Kingma
        & Ba's default), when that is lower. Too low: a factor 10 larger; an adaptive optimizer below
        1e-5 goes to 1e-3; an lr of 0 to 1e-3 (adaptive) or 0.01."""
        from faultlens.models.diagnosis import lr_direction
        opts = optimizers_that_ran(g, tv)
        if not opts:
            return None
        opt = opts[0]
        direction = lr_direction(list(fault.detections))
        if direction == "collapse":
            return _scheduler_gamma(g)
        too_high = direction == "high"
        too_low = direction == "low"
        otype = opt.get("optimizer_type") or ""
        adaptive = otype in {"Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop", "Adagrad", "Adadelta"}
        mom = (opt.get("args") or {}).get("momentum") or 0.0
        mom = float(mom) if isinstance(mom, (int, float)) and not isinstance(mom, bool) and 0 <= mom < 1 else 0.0
        why = ""

        def new_value(old: float) -> float | None:
            nonlocal why
            if too_high:
                if adaptive and old > 1e-3:
                    why = "the usual Adam rate"
                    return 1e-3
                if not adaptive and old / (1.0 - mom) > 1.0:
                    # plain/momentum SGD: the effective step lr / (1 - momentum) above 1 diverges for
                    # standard initialisations (Bengio 2012, "Practical recommendations"): one step
                    # down to an effective 0.1, instead of several rounds of a factor 10
                    cand = round_down(0.1 * (1.0 - mom))
                    if 0 < cand < old:
                        why = "an effective step lr/(1-momentum) of 0.1" if mom else "an SGD rate of 0.1"
                        return cand
                why = "a factor 10 smaller"
                return round_down(old / 10)
            if too_low:
                if old == 0:
                    why = "lr was 0"
                    return 1e-3 if adaptive else 0.01
                if adaptive and old < 1e-5:
                    why = "the usual Adam rate"
                    return 1e-3
                why = "a factor 10 larger"
                return round_down(old * 10) if round_down(old * 10) > old else old * 10
            return None

        r = replace_value(g, opt, "lr", "lr", new_value, "learning rate")
        if r is None or isinstance(r, CommandLine):
            return r
        path, edits, desc = r
        return path, edits, f"{desc} ({why})" if why else desc


def _scheduler_gamma(g) -> EditPlan | None:
    """A decay factor that kills the lr early (gamma < 0.1 per step of a StepLR/ExponentialLR)
    -> 0.5."""
    for sch in g.nodes("scheduler"):
        gamma = (sch.get("args") or {}).get("gamma")
        if isinstance(gamma, (int, float)) and not isinstance(gamma, bool) and gamma < 0.1:
            r = replace_value(g, sch, "gamma", "gamma", lambda old: 0.5, "scheduler decay factor gamma")
            if isinstance(r, CommandLine):
                return r
            if r is not None:
                path, edits, desc = r
                return path, edits, desc + " (the learning rate fell below 1e-3 of its start before half the run)"
    return None
