"""FL012: learning rate outside a plausible range for its optimizer."""
from __future__ import annotations

from faultlens.analyzer.lint.base import Invalid, LintRule, Valid
from faultlens.analyzer.lint.context import span_tuple
from faultlens.analyzer.lint.finding import Edit, Fix
from faultlens.analyzer.reads import read_elsewhere

#: plausible learning-rate ranges (inclusive) and the library default, per optimizer.
#: Adaptive methods: Kingma & Ba (2015) default 1e-3; UMLAUT (CHI'21) flags Adam-style lr
#: > 1e-2 or < 1e-7; small models train well with a few 1e-2 (pytorch/examples' actor-critic
#: uses 3e-2), so the upper bound here is 3e-2 and the rule is a warning. Plain/momentum SGD: Bengio (2012, "Practical
#: recommendations") puts useful values in [1e-6, 1]; above 1 it diverges for standard
#: initialisations. Adagrad 1e-2, Adadelta 1.0, LBFGS 1.0 are the PyTorch defaults (torch.optim docs).
RANGES = {
    "Adam": (1e-6, 3e-2, 1e-3), "AdamW": (1e-6, 3e-2, 1e-3), "Adamax": (1e-6, 5e-2, 2e-3),
    "NAdam": (1e-6, 3e-2, 2e-3), "RAdam": (1e-6, 3e-2, 1e-3), "SparseAdam": (1e-6, 3e-2, 1e-3),
    "RMSprop": (1e-6, 5e-2, 1e-2), "Adagrad": (1e-5, 0.5, 1e-2), "Adadelta": (1e-3, 10.0, 1.0),
    "SGD": (1e-6, 1.0, 1e-2), "ASGD": (1e-6, 1.0, 1e-2), "LBFGS": (1e-3, 10.0, 1.0),
    "Rprop": (1e-5, 0.5, 1e-2),
}


class LearningRateRange(LintRule):
    code = "FL012"
    name = "learning-rate-out-of-range"
    severity = "warning"
    fault_type = "learning_rate"
    summary = "learning rate outside the plausible range for its optimizer"
    rationale = ("A learning rate far above the usual range diverges (loss explodes to NaN); far "
                 "below, training stalls. Ranges per optimizer: Adam-family [1e-6, 3e-2] (Kingma & "
                 "Ba default 1e-3; UMLAUT flags > 1e-2, too strict for small models), SGD [1e-6, 1] "
                 "(Bengio 2012), Adagrad, "
                 "Adadelta, LBFGS around their PyTorch defaults. lr <= 0 is an error.")
    fix_summary = "set the literal learning rate to the optimizer's usual default"
    INVALID = [
        Invalid("""
            import torch
            import torch.nn as nn

            model = nn.Linear(10, 2)
            optimizer = torch.optim.Adam(model.parameters(), lr=0.5)
            """, line=5, fixed="""
            import torch
            import torch.nn as nn

            model = nn.Linear(10, 2)
            optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
            """),
        Invalid("""
            import argparse
            import torch
            import torch.nn as nn

            parser = argparse.ArgumentParser()
            parser.add_argument("--lr", type=float, default=10.0)
            args = parser.parse_args()
            model = nn.Linear(10, 2)
            optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
            """, note="resolved through an argparse default"),
        Invalid("""
            import argparse
            import torch
            import torch.nn as nn

            parser = argparse.ArgumentParser()
            parser.add_argument("--lr", type=float, default=20.0)
            parser.add_argument("--adam", action="store_true")
            args = parser.parse_args()
            model = nn.Linear(10, 2)
            lr = args.lr
            if args.adam:
                optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-lr)
            """, line=6, fixed="""
            import argparse
            import torch
            import torch.nn as nn

            parser = argparse.ArgumentParser()
            parser.add_argument("--lr", type=float, default=20.0)
            parser.add_argument("--adam", action="store_true")
            args = parser.parse_args()
            model = nn.Linear(10, 2)
            lr = args.lr
            if args.adam:
                optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-lr)
            """, note="the default is read by a hand-written update too: only Adam's argument changes"),
    ]
    VALID = [
        Valid("""
            import torch
            import torch.nn as nn

            model = nn.Linear(10, 2)
            opt_a = torch.optim.Adam(model.parameters(), lr=3e-4)
            opt_b = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
            opt_c = torch.optim.LBFGS(model.parameters(), lr=1)
            """),
    ]

    def check(self, ctx):
        for opt in ctx.optimizers():
            kind = opt.get("optimizer_type")
            if kind not in RANGES:
                continue
            args = opt.get("args") or {}
            key = "lr" if "lr" in args else ("1" if "1" in args else None)
            if key is None:
                continue
            resolved = opt.get("args_resolved")
            if isinstance(resolved, dict) and resolved.get(key) is False:
                continue
            lr = args.get(key)
            if isinstance(lr, bool) or not isinstance(lr, (int, float)):
                continue
            lo, hi, default = RANGES[kind]
            if lo <= lr <= hi:
                continue
            where, fix, origin = self._site(ctx, opt, key, default)
            if lr <= 0:
                msg = f"learning rate {lr:g} for {kind} is not positive: {'no training' if lr == 0 else 'gradient ascent'}"
                yield self.finding(ctx, where, msg + origin, node=opt.id, fix=fix, severity="error")
                continue
            side = "above" if lr > hi else "below"
            effect = "updates overshoot and the loss diverges" if lr > hi else "training barely moves"
            msg = (f"learning rate {lr:g} for {kind} is {side} the plausible range [{lo:g}, {hi:g}] "
                   f"({effect}; usual default {default:g}){origin}")
            yield self.finding(ctx, where, msg, node=opt.id, fix=fix)

    @staticmethod
    def _site(ctx, opt, key, default):
        """Where to report (the literal that sets lr, when found) and a fix for literals."""
        origin = ""
        hp_nodes = [u for u, v, d in ctx.graph.edges("uses") if v == opt.id and d.get("arg") in ("lr", key)]
        span = span_tuple((opt.get("arg_spans") or {}).get(key))
        hp = None
        for hid in hp_nodes:
            hp = ctx.node(hid)
            # follow aliases back to the definition holding the literal
            seen = 0
            while hp is not None and not hp.get("value_span") and seen < 6:
                preds = ctx.graph.predecessors(hp.id, "defines")
                hp = preds[0] if preds else None
                seen += 1
            if hp is not None and hp.get("value_span"):
                span = span_tuple(hp.get("value_span"))
                if hp.span.line != opt.span.line or hp.span.path != opt.span.path:
                    # the same file: its line (no path to read relative to some other directory)
                    origin = (f" (set at line {hp.span.line})" if hp.span.path == opt.span.path
                              else f" (set at {hp.span.path}:{hp.span.line})")
                break
        fix = None
        fix_span = span
        if hp is not None and hp.get("value_span") and read_elsewhere(ctx.graph, hp, opt):
            # the definition is read by other code too (a hand-written update, a scheduler, a
            # log line): lowering it there changes what nobody flagged, so the fix replaces
            # this optimizer's own argument and leaves the definition as it is
            fix_span = span_tuple((opt.get("arg_spans") or {}).get(key))
            origin = (origin[:-1] if origin else " (") + \
                (", " if origin else "") + "a value other code reads too: the fix changes this optimizer's lr only)"
            if fix_span is not None:
                fix = Fix(f"use lr={default:g} for this optimizer", (Edit(fix_span[0], *fix_span[1:], repr(default)),))
            return (span or opt), fix, origin
        if fix_span is not None:
            facts = ctx.facts(fix_span[0])
            text = facts.segment(*fix_span[1:]) if facts else ""
            try:
                float(text)
                fix = Fix(f"use lr={default:g}", (Edit(fix_span[0], *fix_span[1:], repr(default)),))
            except ValueError:
                pass
        return (span or opt), fix, origin
