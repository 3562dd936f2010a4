"""Training-loop symptoms read from the order of events in each iteration.

No published detector checks PyTorch loop bugs dynamically (the PyTorch loop checks that exist,
TorchFix's and Amazon CodeGuru's, are static); these rules follow the semantics of ``torch.optim``: gradients
accumulate in ``.grad`` until zeroed, parameters change only in ``optimizer.step()``, and
dropout / batch norm behave differently in ``train()`` and ``eval()`` mode.
"""
from __future__ import annotations

import os
import re

from faultlens.models.symptoms.base import Symptom, register

_MANUAL_ZERO = re.compile(r"\.grad\s*=\s*None|\.grad(\.data)?\.zero_\(\)|\.grad\.detach_\(\)")
_MANUAL_UPDATE = re.compile(r"\.data\.(add_|sub_)\(|\.data\s*[-+]=|\b\w+\s*[-+]=\s*.*\.grad\b|\.(add_|sub_)\(.*grad")


def _sources(gf) -> str:
    g = gf.graph
    if g is None:
        return ""
    if not hasattr(gf, "_src_cache"):
        text = []
        for f in getattr(g, "files", []) or []:
            p = f if os.path.isabs(f) else os.path.join(getattr(g, "root", ".") or ".", f)
            try:
                with open(p, encoding="utf-8") as fh:
                    text.append(fh.read())
            except OSError:
                pass
        gf._src_cache = "\n".join(text)
    return gf._src_cache


@register
class AccumulatingGradients(Symptom):
    """Gradients are never cleared between optimizer steps (``zero_grad`` missing or outside
    the loop), so each update uses the sum of all past gradients.

    Rule: over the optimizer steps after the first, no ``zero_grad`` event occurs between
    consecutive ``step`` events in >= 50% of the cases (needs >= 3 steps). Legitimate gradient
    accumulation clears once per step and is not flagged. Source files that zero gradients by
    hand (``p.grad = None``, ``p.grad.zero_()``) are not judged."""

    name = "accumulating_gradients"
    category = "defect"
    reliability = 0.93
    evidence = {"training_loop": 4.5}

    def detect(self, tv, gf):
        steps = [i for i, e in enumerate(tv.events) if e.event == "step"]
        if len(steps) < 3:
            return self._hand_written(tv, gf)
        if _MANUAL_ZERO.search(_sources(gf)):
            return []
        bad, checked, first_bad = 0, 0, None
        for a, b in zip(steps, steps[1:]):
            between = tv.events[a + 1: b]
            if not any(e.event == "backward" for e in between):
                continue
            checked += 1
            if not any(e.event == "zero_grad" for e in between):
                bad += 1
                if first_bad is None:
                    first_bad = tv.events[b]
        if checked >= 2 and bad / checked >= 0.5 and first_bad is not None:
            n_zero = sum(e.event == "zero_grad" for e in tv.events)
            return [self.hit(first_bad.step, first_bad.node, bad / checked,
                             f"{bad} of {checked} optimizer steps used gradients not cleared since the previous step "
                             f"({n_zero} zero_grad calls seen)", 1.0, zero_grad_calls=n_zero)]
        return []

    def _hand_written(self, tv, gf):
        """Hand-written updates (the graph's manual optimizer; no optimizer step events): the
        gradients are never cleared when no zero_grad call happened in the run and the source
        clears none by hand, over >= 3 iterations with a backward."""
        manual = [o for o in gf.optimizers if o.get("manual")]
        back = [e for e in tv.events if e.event == "backward"]
        iters = sorted({e.step for e in back})
        if not manual or len(iters) < 3 or any(e.event == "zero_grad" for e in tv.events):
            return []
        if _MANUAL_ZERO.search(_sources(gf)):
            return []
        return [self.hit(iters[1], manual[0].id, 1.0, f"{len(back)} backward() calls with hand-written updates, and "
                         "the gradients are never cleared (no zero_grad, no p.grad.zero_() or p.grad = None)", 1.0,
                         zero_grad_calls=0)]


@register
class MissingUpdate(Symptom):
    """Gradients are computed but never applied: no ``optimizer.step()`` after ``backward``,
    or ``zero_grad`` between ``backward`` and ``step`` (the step then sees zero gradients).

    Rule: >= 3 iterations with a ``backward`` event and no ``step`` event in the run (programs
    that update parameters by hand, e.g. ``p.data.add_(...)``, are not judged, nor steps that a
    GradScaler skipped: ``amp_skip`` events); or in >= 50% of
    the steps the last event before ``step`` since the last ``backward`` is a ``zero_grad``."""

    name = "missing_update"
    category = "defect"
    reliability = 0.95
    evidence = {"training_loop": 4.5}

    def detect(self, tv, gf):
        idle = self._idle_optimizer(tv)
        if idle:
            return idle
        back = [e for e in tv.events if e.event == "backward"]
        steps = [i for i, e in enumerate(tv.events) if e.event == "step"]
        iters_with_back = {e.step for e in back}
        if len(back) >= 3 and not steps and any(e.event == "amp_skip" for e in tv.events):
            # the program called scaler.step(optimizer) and the GradScaler skipped every step
            # (inf/NaN gradients): the loop is right, the gradients are not (amp_scale_collapse)
            return []
        if len(back) >= 3 and not steps:  # (without steps the iteration counter may not advance)
            if any(o.get("manual") for o in gf.optimizers) or _MANUAL_UPDATE.search(_sources(gf)):
                return []  # a hand-written update (the graph's manual optimizer) applies them
            if gf.graph is not None and not gf.optimizers:
                return []
            node = gf.optimizers[0].id if gf.optimizers else None
            return [self.hit(back[0].step, node, 0, f"{len(back)} backward() calls but the "
                             "optimizer never stepped", 1.0, reason="no_step", backward_node=back[0].node)]
        if len(steps) >= 3:
            wiped, checked, first = 0, 0, None
            prev = -1
            for i in steps:
                seg = tv.events[prev + 1: i]
                prev = i
                lb = max((j for j, e in enumerate(seg) if e.event == "backward"), default=None)
                if lb is None:
                    continue
                checked += 1
                if any(e.event == "zero_grad" for e in seg[lb + 1:]):
                    wiped += 1
                    if first is None:
                        first = tv.events[i]
            if checked and wiped / checked >= 0.5 and first is not None:
                return [self.hit(first.step, first.node, wiped / checked,
                                 "gradients are cleared between backward() and step()", 1.0, reason="cleared")]
        return []

    def _idle_optimizer(self, tv):
        """Several optimizers (a GAN's, one per network): one never stepped while another
        stepped >= 3 times, so its network's parameters never change (a missing
        ``opt_G.step()``)."""
        watched = list((tv.meta.get("watched") or {}).get("optimizers") or [])
        stepped = set(tv.nodes("opt_step"))
        if len(watched) < 2 or not stepped:
            return []
        idle = [o for o in watched if o not in stepped]
        busy = max(len(tv.series("opt_step", o)[0]) for o in stepped)
        if not idle or busy < 3:
            return []
        return [self.hit(0, idle[0], 0, f"optimizer {idle[0].split(':')[-1]} never stepped while another stepped "
                         f"{busy} times: its network's parameters never change", 1.0, reason="idle_optimizer")]


@register
class EvalModeMissing(Symptom):
    """Evaluation runs in training mode: forwards with gradients disabled while the model is
    in ``train()`` mode, and the model has dropout or batch norm (whose outputs then differ
    from inference). Rule: >= 1 such ``eval_forward`` event and the graph shows a
    dropout/batch-norm layer (models without them are not judged: train/eval mode makes no
    difference there)."""

    name = "eval_mode_missing"
    category = "defect"
    reliability = 0.9
    evidence = {"training_loop": 4.5}

    def detect(self, tv, gf):
        ev = [e for e in tv.events if e.event == "eval_forward" and e.training is True]
        if not ev or gf.has_dropout_or_bn() is not True:
            return []
        n = sum(1 for e in tv.events if e.event == "eval_forward")
        return [self.hit(ev[0].step, ev[0].node, len(ev) / max(n, 1),
                         f"{len(ev)} of {n} evaluation forwards ran with the model in train() mode", 1.0)]


@register
class TrainModeMissing(Symptom):
    """Training runs in eval mode: training forwards (gradients enabled, followed by
    backward) while the model is in ``eval()`` mode — typically ``model.train()`` missing at
    the top of the epoch after an evaluation. Only judged for models with dropout/batch norm.
    Rule: >= 30% of training forwards ran with ``training`` false."""

    name = "train_mode_missing"
    category = "defect"
    reliability = 0.85
    evidence = {"training_loop": 4.5}

    def detect(self, tv, gf):
        fw = [e for e in tv.events if e.event == "forward"]
        bad = [e for e in fw if e.training is False]
        if not fw or len(bad) / len(fw) < 0.3 or gf.has_dropout_or_bn() is not True:
            return []
        return [self.hit(bad[0].step, bad[0].node, len(bad) / len(fw),
                         f"{len(bad)} of {len(fw)} training forwards ran with the model in eval() mode", 1.0)]
