"""Mixed-precision symptoms, read from what the program's ``torch.amp.GradScaler`` did.

The instrumenter records per optimizer step taken through a scaler its scale (``amp_scale``,
the value ``scaler.scale(loss)`` multiplied the loss by) and whether the scaler skipped the
step (``amp_skipped``: inf/NaN gradients, ``optimizer.step()`` not called). PyTorch's
automatic mixed precision docs describe the dynamic: every skipped step multiplies the scale by
``backoff_factor`` (0.5), and only ``growth_interval`` (2000) consecutive good steps grow it
again. A few skipped steps at the start of an fp16 run are that mechanism finding its range and
are no symptom; a scale that keeps falling means no step can be taken.
"""
from __future__ import annotations

import numpy as np

from faultlens.models.symptoms.base import Symptom, register

#: consecutive skipped steps that make a collapse, and the scale below which the GradScaler.update
#: docs warn that "something is likely wrong"; 16 halvings take the default init_scale 2**16 to 1.
#: The instrumenter's settled early stop uses the same figures
#: (``faultlens.instrumenter.runtime.AMP_COLLAPSE_RUN`` / ``AMP_MIN_SCALE``).
COLLAPSE_RUN = 16
MIN_SCALE = 1.0
#: at least this many skipped steps before a scale below MIN_SCALE counts (a scale set below 1
#: by hand, with no skipped step, is a choice, not a collapse)
MIN_SKIPPED = 2


def _longest_run(flags: np.ndarray) -> tuple[int, int]:
    """(length, start index) of the longest run of True values."""
    best, best_at, cur, at = 0, -1, 0, 0
    for i, f in enumerate(flags):
        if f:
            if cur == 0:
                at = i
            cur += 1
            if cur > best:
                best, best_at = cur, at
        else:
            cur = 0
    return best, best_at


def _scaler_step_call(gf) -> str | None:
    """The graph's ``scaler.step(optimizer)`` call: a call named ``*.step`` that takes an
    argument and targets no optimizer node (``optimizer.step()`` takes none)."""
    g = gf.graph
    if g is None:
        return None
    try:
        for n in g.nodes("call", method="step"):
            if n.get("target") is None and n.get("inputs"):
                return n.id
    except Exception:
        return None
    return None


@register
class AmpScaleCollapse(Symptom):
    """The GradScaler's loss scale collapses: it skipped ``COLLAPSE_RUN`` (16) consecutive
    optimizer steps, or its scale fell below 1 (``MIN_SCALE``, the GradScaler.update docs'
    warning) after ``MIN_SKIPPED`` or more skipped steps. The parameters stop changing: every
    update is dropped because the gradients are inf/NaN whatever the scale. ``details``: the
    skipped and total scaler steps, the longest run, the first and last scale, and whether the
    training loss was non-finite during the run (then the forward already fails, and the
    collapse follows from that failure rather than from the backward alone)."""

    name = "amp_scale_collapse"
    category = "failure"
    reliability = 0.9
    #: a GradScaler whose scale collapses with a finite loss: the backward overflows or yields
    #: NaN whatever the scale (unnormalised inputs overflowing fp16, a loss or op producing
    #: inf gradients, a model whose ranges do not fit fp16: the torch.amp docs' warning)
    evidence = {"data_preprocessing": 1.0, "loss_function": 0.8, "architecture": 0.8,
                "activation": 0.6, "data": 0.5}

    def detect(self, tv, gf):
        out = []
        for node, (s, v) in tv.all_series("amp_skipped").items():
            if not len(v):
                continue
            skipped = v > 0.5
            n_skip = int(skipped.sum())
            if n_skip < MIN_SKIPPED:
                continue
            run, at = _longest_run(skipped)
            ss, scale = tv.series("amp_scale", node)
            below = np.nonzero(scale < MIN_SCALE)[0] if len(scale) else np.array([], dtype=int)
            if run < COLLAPSE_RUN and not len(below):
                continue
            if run >= COLLAPSE_RUN:
                start = int(s[at])
                end = int(s[at + run - 1])
            else:
                start = int(ss[below[0]])
                end = int(s[-1])
            first = float(scale[0]) if len(scale) else None
            last = float(scale[-1]) if len(scale) else None
            ls, lv = tv.loss()
            during = lv[(ls >= start) & (ls <= end)] if len(lv) else lv
            loss_nonfinite = bool(len(during) and not np.all(np.isfinite(during)))
            where = _scaler_step_call(gf) or node
            msg = (f"GradScaler skipped {n_skip} of {len(v)} optimizer steps ({run} in a row from step {start}); "
                   f"loss scale {_sc(first)} -> {_sc(last)}: no update is applied")
            out.append(self.hit(start, where, last, msg, 1.0, skipped=n_skip, scaler_steps=int(len(v)),
                                longest_run=run, first_scale=first, last_scale=last,
                                loss_nonfinite=loss_nonfinite, optimizer=node))
            break
        return out


def amp_summary(tv) -> dict | None:
    """What the scalers did over the run, for the report's note: {steps, skipped, first_scale,
    last_scale, min_scale}; None when no step went through a GradScaler."""
    series = tv.all_series("amp_skipped")
    if not series:
        return None
    steps = sum(len(v) for _, v in series.values())
    skipped = int(sum(int((v > 0.5).sum()) for _, v in series.values()))
    scales = [v for _, v in tv.all_series("amp_scale").values() if len(v)]
    first = float(scales[0][0]) if scales else None
    last = float(scales[0][-1]) if scales else None
    low = float(min(float(np.min(v)) for v in scales)) if scales else None
    return {"steps": int(steps), "skipped": skipped, "first_scale": first, "last_scale": last, "min_scale": low}


def amp_note(a: dict) -> str:
    """One line for the report: how many steps the GradScaler skipped, and its scale."""
    scale = ""
    if a.get("first_scale") is not None:
        scale = f", loss scale {_sc(a['first_scale'])} -> {_sc(a['last_scale'])}"
        if a.get("min_scale") is not None and a['min_scale'] < min(a['first_scale'], a['last_scale']):
            scale += f" (lowest {_sc(a['min_scale'])})"
    return (f"mixed precision: the GradScaler skipped {a['skipped']} of {a['steps']} optimizer steps "
            f"(inf/NaN gradients){scale}; the loss and gradients shown are unscaled")


def _sc(x) -> str:
    """A loss scale as written (65536, 0.00390625 -> 0.00390625)."""
    return "?" if x is None else f"{float(x):g}"
