"""Symptoms read from the loss / accuracy curves."""
from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from faultlens.models.symptoms.base import (
    MIN_STEPS, chunk_means, Detection, Symptom, epoch_means, finite, fmt, head_tail, integer_targets, judged,
    register,
)
from faultlens.models.symptoms.graph_facts import GraphFacts
from faultlens.models.symptoms.trace_view import TraceView
from faultlens.taxonomy import ABS_LOSSES as _ABS_LOSSES, NONNEG_LOSSES as _NONNEG_LOSSES

_NONFINITE_METRICS = (
    ("act_nonfinite", "activation"),
    ("grad_nonfinite", "gradient"),
    ("weight_nonfinite", "weight"),
)


@register
class NanOrInf(Symptom):
    """A NaN or Inf appeared in the loss, an activation, a gradient, a weight or the input.

    Threshold: any non-finite value (AUTOTRAINER counts any NaN gradient as exploding; DEFault
    flags non-finite runtime values). Reports the first step and the node where it appeared;
    among metrics first seen at the same step, the input comes first, then activations,
    gradients, weights and loss (the order in which a NaN propagates within one step)."""

    name = "nan_or_inf"
    category = "failure"
    reliability = 0.97
    evidence = {"learning_rate": 2.0, "data": 0.6, "loss_function": 0.6, "weight_initialization": 0.4,
                "data_preprocessing": 0.6}

    def detect(self, tv: TraceView, gf: GraphFacts) -> list[Detection]:
        cands: list[tuple[int, int, str | None, str, float]] = []
        for order, metric in enumerate(("input_min", "input_max")):
            for node, (s, v) in tv.all_series(metric).items():
                bad = ~np.isfinite(v)
                if bad.any():
                    i = int(np.argmax(bad))
                    cands.append((int(s[i]), 0, node, "input", float(v[i])))
        for rank, (metric, what) in enumerate(_NONFINITE_METRICS, start=1):
            for node, (s, v) in tv.all_series(metric).items():
                bad = np.nan_to_num(v, nan=1.0) > 0
                if bad.any():
                    i = int(np.argmax(bad))
                    cands.append((int(s[i]), rank, node, what, float(v[i])))
        for node in tv.nodes("loss"):
            s, v = tv.series("loss", node)
            bad = ~np.isfinite(v)
            if bad.any():
                i = int(np.argmax(bad))
                cands.append((int(s[i]), 4, node, "loss", float(v[i])))
        crash = tv.crash
        if crash and crash.get("kind") == "nan_check":
            cands.append((int(crash.get("step") or 0), 5, crash.get("node"), "check", float("nan")))
        if not cands:
            return []
        step, _, node, what, value = min(cands, key=lambda c: (c[0], c[1]))
        # was the loss finite and rising before? (a blow-up rather than bad data)
        s, v = tv.loss()
        before = v[(s < step) & np.isfinite(v)]
        rising = bool(len(before) >= 3 and before[-1] > 2 * np.min(before))
        return [self.hit(step, node, value if what != "check" else "nan",
                         f"non-finite {what} first at step {step}", 1.0,
                         what=what, finite_steps_before=int(len(before)), rising_before=rising)]


def _loss(tv: TraceView) -> tuple[np.ndarray, np.ndarray]:
    return finite(*tv.loss())


#: stop reasons of a run that a budget cut short: its end is not the end of training
BUDGET_STOPS = ("max_seconds", "max_seconds_hard", "max_steps")


#: stop reasons of the settled early stop (``nonfinite_loss``: its name in older traces)
SETTLED_STOPS = ("settled", "nonfinite_loss")


def settled_early(tv: TraceView) -> bool:
    """The early stop ended the run once its diagnosis was settled: a prefix of the run."""
    return tv.status == "cut_short" and tv.meta.get("stop_reason") in SETTLED_STOPS


def cut_by_budget(tv: TraceView) -> bool:
    """The run was stopped by --max-seconds/--max-steps: what it shows is a prefix, so "still
    improving at the end" or "ended below target" say nothing about the program's epochs."""
    return tv.status == "cut_short" and tv.meta.get("stop_reason") in BUDGET_STOPS


@register
class LossNotDecreasing(Symptom):
    """The training loss did not go down.

    Threshold: the mean loss over the last 20% of steps is less than 1% below the mean over
    the first 10% (needs >= 10 finite loss values). TheDeepChecker's first check is that a
    network can lower the loss at all (fit one batch); AUTOTRAINER's slow-convergence rule
    uses a 0.01 change bound. A run whose loss is already ~0 (< 1e-3) is not judged."""

    name = "loss_not_decreasing"
    category = "failure"
    reliability = 0.9
    evidence = {"learning_rate": 1.0, "data": 0.8, "optimizer": 0.6, "loss_function": 0.6,
                "activation": 0.5, "weight_initialization": 0.5, "data_preprocessing": 0.4,
                "training_loop": 0.3, "architecture": 0.3, "regularization": 0.3}
    rel_drop = 0.01

    def detect(self, tv, gf):
        s, v = _loss(tv)
        if len(v) < MIN_STEPS:
            return []
        head, tail = head_tail(v)
        if abs(head) < 1e-3 or tail > 1.5 * head + 1e-12:  # diverging is its own symptom
            return []
        drop = (head - tail) / abs(head)
        if drop < self.rel_drop:
            return [self.hit(int(s[-1]), tv.nodes("loss")[0] if tv.nodes("loss") else None, drop,
                             f"loss went from {fmt(head)} to {fmt(tail)} ({drop:+.1%} change)",
                             min(1.0, (self.rel_drop - drop) / self.rel_drop + 0.5), head=head, tail=tail)]
        return []


#: the loss rule of ``slow_convergence``: the last third of a run whose loss fell by under half
#: still gave at least this share of the drop (first third of the last third vs its last third)
SLOW_LATE_SHARE = 0.12


@register
class SlowConvergence(Symptom):
    """Training progresses too slowly.

    Accuracy rule (AUTOTRAINER): judged after the first 30% of steps on 5-10 windowed means of
    the training accuracy: every change between windows <= 0.01 and the best accuracy < 0.6.
    Below-target rule (AUTOTRAINER's target, applied at the end of the budget): the best
    windowed accuracy < 0.6 and the final loss > 0.5*log(C) (C = classes seen in the targets),
    i.e. the run ends far from fitting the training data.
    Loss rule (faultlens, for runs without accuracy or where the accuracy still moves): the
    loss fell by 1%-50% only (last 20% vs first 10%) and is still falling at the end (the last
    third of the run holds >= SLOW_LATE_SHARE (12%) of the total drop), i.e. neither converged
    nor stuck.
    Both accuracy rules need the accuracy records to cover >= ``MIN_ACCURACY_EXAMPLES`` targets,
    and are not read for a loss against two mixed target sets (``GraphFacts.mixed_targets``).
    Neither end-of-run rule fires when the classification accuracy reached the task's target
    (``reached_target``); neither accuracy rule fires for a language model that converged on its
    stochastic targets (``_converged_language_model``)."""

    name = "slow_convergence"
    category = "failure"
    reliability = 0.75
    evidence = {"learning_rate": 1.2, "epochs": 0.9, "optimizer": 0.6, "batch_size": 0.4,
                "activation": 0.3, "weight_initialization": 0.3}

    def detect(self, tv, gf):
        out = []
        s, a = finite(*tv.series("accuracy"))
        if accuracy_examples(tv, s) < MIN_ACCURACY_EXAMPLES or gf.mixed_targets():
            # a handful of sampled batches of one or two examples, or a loss against two mixed
            # target sets (mixup): their accuracy says nothing about how well the model fits;
            # the loss rule below still judges the run
            s, a = s[:0], a[:0]
        lm_converged = functools.cache(lambda: _converged_language_model(tv, gf))  # both accuracy rules
        if len(a) >= MIN_STEPS:
            js, ja = judged(s, a)
            w = epoch_means(tv, js, ja, min_windows=5)
            if len(w) >= 3 and np.all(np.abs(np.diff(w)) <= 0.01) and np.max(w) < 0.6 \
                    and not lm_converged():
                return [self.hit(int(js[-1]), tv.nodes("accuracy")[0], float(np.max(w)),
                                 f"accuracy stuck at {fmt(float(np.max(w)))} (changes <= 0.01)", 1.0, rule="accuracy")]
        if cut_by_budget(tv) or reached_target(tv) is not None:
            # the rules below judge the end of training, which a budget stop is not; a run whose
            # accuracy reached the task's target has converged far enough whatever its loss says
            return out
        if len(a) >= 3:
            # the run ended below AUTOTRAINER's typical task target (0.6) while the loss is still
            # far from fitting (> half of the chance-level cross-entropy log(C)); sparse
            # accuracy records (>= 3) suffice: the best of the last half is used
            n_cls = classes_seen(tv)
            _, isint = finite(*tv.series("target_is_int"))
            s_l, v_l = _loss(tv)
            if n_cls is not None and len(v_l) >= MIN_STEPS and (not len(isint) or np.median(isint) > 0.5):
                if len(a) >= MIN_STEPS:
                    js, ja = judged(s, a)
                    w = epoch_means(tv, js, ja, min_windows=5)
                    best = float(np.max(w)) if len(w) else float(np.max(ja))
                else:
                    best = float(np.max(a[len(a) // 2:]))
                _, tail = head_tail(v_l)
                if n_cls >= 2 and best < 0.6 and tail > 0.5 * math.log(n_cls) \
                        and not lm_converged():
                    return [self.hit(int(s[-1]), tv.nodes("accuracy")[0], best,
                                     f"best training accuracy {best:.2f} (< 0.6) and loss {fmt(tail)} > "
                                     f"0.5*log({n_cls}) at the end of the run", 0.8, rule="below_target")]
        s, v = _loss(tv)
        if len(v) >= 2 * MIN_STEPS:
            head, tail = head_tail(v)
            if head > 1e-3 and tail < head:
                drop = (head - tail) / abs(head)
                third = v[-max(3, len(v) // 3):]
                late = float(np.mean(third[: max(1, len(third) // 3)]) - np.mean(third[-max(1, len(third) // 3):]))
                total = head - tail
                if 0.01 <= drop < 0.5 and total > 0 and late >= SLOW_LATE_SHARE * total:
                    out.append(self.hit(int(s[-1]), tv.nodes("loss")[0], drop,
                                        f"loss fell only {drop:.1%} ({fmt(head)} -> {fmt(tail)}) and is still falling",
                                        min(1.0, (0.5 - drop) / 0.5 + 0.3), rule="loss", late_share=late / total))
        return out


@register
class OscillatingLoss(Symptom):
    """The loss swings up and down instead of settling.

    Threshold (AUTOTRAINER): judged after 30% of the run on per-epoch (or per-chunk) mean
    losses; >= 20% of the points are peak-to-trough pairs whose swing is >= 0.03. Because the
    loss scale varies between programs (AUTOTRAINER's 0.03 is in accuracy-like units), the
    swing must also be >= 25% of the median loss level and >= 3 standard errors of a window
    mean (minibatch noise alone moves window means by ~std/sqrt(n)), and a loss that still falls
    by more than 3x over the judged part is settling, not swinging (faultlens)."""

    name = "oscillating_loss"
    category = "failure"
    reliability = 0.65
    evidence = {"learning_rate": 1.6, "batch_size": 1.0, "optimizer": 0.4}

    def detect(self, tv, gf):
        s, v = _loss(tv)
        if len(v) < 2 * MIN_STEPS:
            return []
        js, jv = judged(s, v)
        z = epoch_means(tv, js, jv)
        if len(z) < 5:
            return []
        k = max(1, len(z) // 5)
        if float(np.mean(z[-k:])) <= 0.3 * float(np.mean(z[:k])):
            return []  # still settling: the judged part fell by more than 3x, swings are noise on the way down
        level = float(np.median(np.abs(z)))
        # minibatch noise alone moves a window mean by ~ std/sqrt(n): swings must exceed 3x that
        chunks = np.array_split(jv, len(z))
        se = float(np.median([c.std() / np.sqrt(len(c)) for c in chunks if len(c) > 1] or [0.0]))
        thr = max(0.03, 0.25 * level, 3 * se)
        peaks = 0
        for i in range(1, len(z) - 1):
            if z[i] > z[i - 1] and z[i] > z[i + 1] and z[i] - min(z[i - 1], z[i + 1]) >= thr:
                peaks += 1
        frac = 2 * peaks / len(z)
        if frac >= 0.2 and good_regression(tv, gf) is None:
            # a regression whose error is already small against the targets' spread: the swings
            # are batch noise in the targets' units, not a failure to settle
            return [self.hit(int(js[-1]), tv.nodes("loss")[0], frac,
                             f"{frac:.0%} of the windowed loss points are swings >= {fmt(thr)}",
                             min(1.0, frac / 0.5), threshold=thr)]
        return []


@register
class DivergingLoss(Symptom):
    """The loss grows during training.

    Threshold (faultlens; the ``loss should decrease`` check of TheDeepChecker turned
    around): the mean finite loss over the last 20% of steps is > 1.5x the first 10% and > 3x
    the lowest windowed loss; or the loss became non-finite after >= 3 finite steps whose last
    value was > 2x their minimum (a blow-up, not bad input)."""

    name = "diverging_loss"
    category = "failure"
    reliability = 0.92
    evidence = {"learning_rate": 2.5, "optimizer": 0.6, "data_preprocessing": 0.5}

    def detect(self, tv, gf):
        s0, v0 = tv.loss()
        s, v = finite(s0, v0)
        node = tv.nodes("loss")[0] if tv.nodes("loss") else None
        if len(v) >= MIN_STEPS:
            head, tail = head_tail(v)
            low = float(np.min(epoch_means(tv, s, v)))
            if tail > 1.5 * head and tail > 3 * max(low, 1e-12) and head > 0:
                return [self.hit(int(s[-1]), node, tail / head, f"loss rose from {fmt(head)} to {fmt(tail)}",
                                 min(1.0, math.log10(tail / head) / 1.0 + 0.3), head=head, tail=tail)]
        bad = ~np.isfinite(v0)
        if bad.any() and len(v) >= 3:
            i = int(np.argmax(bad))
            before = v0[:i][np.isfinite(v0[:i])]
            if len(before) >= 3 and before[-1] > 2 * before.min():
                return [self.hit(int(s0[i]), node, float(before[-1] / max(before.min(), 1e-12)),
                                 f"loss grew {fmt(float(before[-1] / max(before.min(), 1e-12)))}x then became non-finite",
                                 1.0)]
        return []


@register
class TrainValidationGap(Symptom):
    """The model fits the training data much better than the validation data (overfitting).

    Threshold (DEFault): training accuracy - validation accuracy > 0.1, both averaged over the
    last 20% of their records. Without accuracies: validation loss at the end > 1.3x its
    minimum while the training loss kept falling (the classic overfitting curve)."""

    name = "train_validation_gap"
    category = "failure"
    reliability = 0.7
    evidence = {"regularization": 3.0, "epochs": 0.8, "data": 0.5, "architecture": 0.3}

    def detect(self, tv, gf):
        sa, a = finite(*tv.series("accuracy"))
        sv, va = finite(*tv.series("val_accuracy"))
        if len(a) >= MIN_STEPS and len(va) >= 2:
            _, ta = head_tail(a, min_pts=2)
            _, tva = head_tail(va, min_pts=1)
            gap = ta - tva
            if gap > 0.1:
                return [self.hit(int(sv[-1]), tv.nodes("val_accuracy")[0], gap,
                                 f"train accuracy {fmt(ta)} vs validation {fmt(tva)} (gap {fmt(gap)})",
                                 min(1.0, gap / 0.2), train=ta, val=tva)]
            return []
        sl, vl = finite(*tv.series("val_loss"))
        s, v = _loss(tv)
        if len(vl) >= 4 and len(v) >= MIN_STEPS:
            head, tail = head_tail(v)
            i_min = int(np.argmin(vl))
            if vl[-1] > 1.3 * vl[i_min] and i_min < len(vl) - 1 and tail < head:
                return [self.hit(int(sl[-1]), tv.nodes("val_loss")[0], float(vl[-1] / vl[i_min]),
                                 f"validation loss rose to {fmt(float(vl[-1]))} from {fmt(float(vl[i_min]))} "
                                 "while the training loss fell", 0.7)]
        return []


@register
class NegativeLoss(Symptom):
    """A loss that cannot be negative went below zero.

    Cross-entropy, NLL (on log-probabilities), BCE, MSE and L1 are >= 0 by definition; a
    negative value means the loss receives inputs outside its contract — typically NLLLoss on
    raw scores instead of log-probabilities, which makes the loss unbounded below (TorchFix /
    CodeGuru's "softmax with NLLLoss" family). Threshold: any loss value < -1e-6 with such a
    loss type in the graph."""

    name = "negative_loss"
    category = "defect"
    reliability = 0.95
    evidence = {"loss_function": 3.0, "activation": 1.5}

    def detect(self, tv, gf):
        lts = set(gf.loss_types())
        if not (lts & _NONNEG_LOSSES):
            return []
        s, v = _loss(tv)
        neg = v < -1e-6
        if neg.any():
            i = int(np.argmax(neg))
            return [self.hit(int(s[i]), tv.nodes("loss")[0], float(v[i]),
                             f"{'/'.join(sorted(lts & _NONNEG_LOSSES))} went negative ({fmt(float(v[i]))}) at step {int(s[i])}",
                             1.0, loss_types=sorted(lts))]
        return []


@register
class NoBetterThanBaseline(Symptom):
    """A model that ends no better than a predictor that ignores its inputs.

    With a mean-squared-error loss, predicting the target mean gives a loss equal to the
    target variance; TheDeepChecker's pre-training check compares the initial loss with this
    chance level. Threshold (faultlens): the mean MSE over the last 20% of steps >= 0.9x the
    median per-batch target variance (R^2 <= 0.1), after >= 20 steps. A ``reduction='sum'``
    loss is a per-element MSE times the target's element count (``target_numel``): it is
    divided by that count first, and not judged where the trace lacks it.

    With a cross-entropy (class indices, or 0/1 targets of a binary cross-entropy), predicting
    the class frequencies gives a loss equal to their entropy (``target_entropy``): a classifier
    or language model whose loss ends there learnt nothing from its inputs (a collapse to the
    label marginal, as a too-large step or labels unrelated to the inputs give). Threshold
    (faultlens): the mean loss over the last 20% of steps >= 0.95x the entropy of the label
    frequencies over the run's sampled batches, after >= 20 steps, not for a sum-reduced loss
    nor a run a budget cut short."""

    name = "no_better_than_baseline"
    category = "failure"
    reliability = 0.8
    evidence = {"loss_function": 0.8, "data": 0.8, "learning_rate": 0.6, "optimizer": 0.5,
                "architecture": 0.4, "data_preprocessing": 0.4, "activation": 0.3}

    def detect(self, tv, gf):
        lts = set(gf.loss_types())
        if not lts or lts <= _CLASS_LOSSES:
            return self._classification(tv, gf)
        if "MSELoss" not in lts or len(lts) > 1:
            return []
        s, v = _loss(tv)
        _, tsd = finite(*tv.series("target_std"))
        if len(v) < 2 * MIN_STEPS or not len(tsd):
            return []
        var = float(np.median(tsd)) ** 2
        if gf.sum_reduced():
            _, numel = finite(*tv.series("target_numel"))
            if not len(numel):
                return []
            v = v / float(np.median(numel))
        _, tail = head_tail(v)
        if var > 0 and tail >= 0.9 * var:
            return [self.hit(int(s[-1]), tv.nodes("loss")[0], tail / var,
                             f"final MSE {fmt(tail)} vs target variance {fmt(var)} (R^2 ~ {1 - tail / var:.2f})", 0.9)]
        return []

    def _classification(self, tv, gf):
        if gf.sum_reduced() or cut_by_budget(tv):
            return []
        s, v = _loss(tv)
        _, h = finite(*tv.series("target_entropy"))
        if len(v) < 2 * MIN_STEPS or len(h) < 2 or np.any(v < 0):
            return []
        base = float(h[-1])  # the frequencies over every sampled batch of the run
        _, tail = head_tail(v)
        if base > 0.05 and tail >= 0.95 * base:
            return [self.hit(int(s[-1]), tv.nodes("loss")[0], tail / base,
                             f"final loss {fmt(tail)} vs {fmt(base)}, the entropy of the class frequencies: "
                             f"no better than predicting the frequencies without looking at the inputs", 0.9,
                             rule="class_frequencies")]
        return []


@register
class LearningRateCollapse(Symptom):
    """The learning rate decays to (almost) zero early in the run, so the rest of the
    training cannot move the weights. Threshold (faultlens): the recorded lr falls below
    1e-3x its initial value before half of the run (a schedule that anneals to ~0 only at
    the end is normal), and the loss over the last 20% of the run is still > 0.5x its first
    10% (the run had not converged when the lr died: corroboration, so that a plateau
    schedule after convergence is not flagged)."""

    name = "lr_collapse"
    category = "failure"
    reliability = 0.75
    evidence = {"learning_rate": 2.5}

    def detect(self, tv, gf):
        for node in tv.nodes("lr"):
            s, lr = finite(*tv.series("lr", node))
            if len(lr) < 5 or lr[0] <= 0:
                continue
            low = lr < 1e-3 * lr[0]
            ls, lv = _loss(tv)
            if len(lv) >= MIN_STEPS:
                head, tail = head_tail(lv)
                if head > 0 and tail <= 0.5 * head:
                    continue
            if low.any():
                i = int(np.argmax(low))
                if s[i] <= s[0] + 0.5 * (s[-1] - s[0]):
                    return [self.hit(int(s[i]), node, float(lr[i]),
                                     f"learning rate fell from {fmt(float(lr[0]))} to {fmt(float(lr[i]))} by step {int(s[i])}",
                                     1.0, initial=float(lr[0]))]
        return []


#: records per window where each loss is one example's (``single_example_losses``)
SPIKE_WINDOW = 16


def single_example_losses(tv: TraceView) -> bool:
    """Each training loss is over one or two target elements (batch size 1: per-example
    training, as character-RNN tutorials do), by the median of the sampled batches."""
    _, n = finite(*tv.series("target_numel"))
    return len(n) >= 3 and float(np.median(n)) <= 2


@register
class LossSpike(Symptom):
    """The loss jumps far above where it started: an optimizer step overshot.

    The loss spike is a trigger of the curvature probe tier (docs/instrumenter.md): a step with
    loss-decrease ratio rho < 0 overshot. Threshold (faultlens): some recorded loss > 3x the initial loss
    (median of the first 3 records) and > initial + 1, after step 0. A well-scaled run starts
    at its highest loss (chance level); climbing 3x above it within the run means the updates
    are too large for the curvature. A closure optimizer's evaluations (LBFGS; the trace's
    ``closure_evaluations``) include trial points: a peak that the next 3 evaluations leave
    again (back under 3x the initial loss) is a step it backed away from, not an overshoot.
    Where each loss is one example's (batch size 1), the rule reads means over windows of 16
    records: one confidently wrong example is no overshoot."""

    name = "loss_spike"
    category = "failure"
    reliability = 0.8
    evidence = {"learning_rate": 2.5, "batch_size": 0.4, "data_preprocessing": 0.4, "optimizer": 0.4}

    def detect(self, tv, gf):
        s, v = _loss(tv)
        if len(v) < MIN_STEPS:
            return []
        if single_example_losses(tv) and len(v) >= 2 * MIN_STEPS * SPIKE_WINDOW:
            # the loss of one example is heavy-tailed (a confidently wrong example costs several
            # times the mean): judge means over windows of examples, as a batch would
            k = len(v) // SPIKE_WINDOW
            s = s[: k * SPIKE_WINDOW: SPIKE_WINDOW]
            v = v[: k * SPIKE_WINDOW].reshape(k, SPIKE_WINDOW).mean(1)
        init = float(np.median(v[:3]))
        if init <= 0:
            return []
        later = v[1:]
        i = int(np.argmax(later)) + 1
        peak = float(v[i])
        if peak > 3 * init and peak > init + 1:
            if tv.meta.get("closure_evaluations") and float(np.min(v[i + 1: i + 4], initial=np.inf)) <= 3 * init:
                return []  # a trial point that the closure optimizer backed away from
            return [self.hit(int(s[i]), tv.nodes("loss")[0], peak / init,
                             f"loss jumped to {fmt(peak)} at step {int(s[i])} from {fmt(init)} at the start",
                             min(1.0, 0.5 + math.log10(peak / init) / 2), initial=init, peak=peak)]
        return []


@register
class StillImproving(Symptom):
    """Training stopped while the loss was still falling fast: more epochs would help.

    Threshold (faultlens): on 10 windowed means of the loss, the last window is >= 10% below
    every window before the last 20% (the last 20% of the run still cut the loss by a tenth
    below its best so far), that drop is >= 5%
    of the initial loss (so tiny losses that keep shrinking relatively do not count), and it is
    more than the batch-to-batch noise explains (2 standard errors of the difference of two
    window means, the noise measured about the trend of the last 30%).
    AUTOTRAINER judges convergence only after 30% of training; this is its end-of-budget
    counterpart."""

    name = "still_improving"
    category = "failure"
    reliability = 0.6
    evidence = {"epochs": 2.5, "learning_rate": 0.8, "batch_size": 0.4}

    def detect(self, tv, gf):
        hit = _still_falling(tv)
        if hit is None or far_enough(tv, gf) is not None:
            return []  # a run that already reached a good result gets advice instead (could_train_longer)
        s, z, rel = hit
        return [self.hit(int(s[-1]), tv.nodes("loss")[0], rel,
                         f"the loss was still falling at the end ({fmt(float(np.min(z[:-2])))} -> {fmt(float(z[-1]))} "
                         "over the last 20% of the run)", min(1.0, rel / 0.2))]


def _still_falling(tv: TraceView) -> tuple[np.ndarray, np.ndarray, float] | None:
    """(steps, windowed means, relative drop) when the loss still fell over the run's last 20%."""
    s, v = _loss(tv)
    if len(v) < MIN_STEPS or cut_by_budget(tv):
        return None
    z = chunk_means(v, 10)
    if len(z) < 5:
        return None
    head = float(np.mean(v[: max(1, len(v) // 10)]))
    # below the lowest window before the last 20%, not just below the third-to-last: a loss
    # that plateaued and dips by chance at the end is not still falling
    drop = float(np.min(z[:-2]) - z[-1])
    if z[-1] > 0 and drop / z[-1] >= 0.1 and drop >= 0.05 * abs(head) and drop >= _window_noise(v, len(z)):
        return s, z, drop / z[-1]
    return None


def _window_noise(v: np.ndarray, n_windows: int) -> float:
    """The smallest drop between two windowed means that the batch-to-batch noise does not
    explain: 2 standard errors of a difference of two window means (2 * sqrt(2) * sd / sqrt(w)),
    with sd the scatter of the last 30% of the loss about its straight-line trend. A noisy loss
    (contrastive pairs, small batches) moves its last windows by chance."""
    tail = v[-max(3, int(round(0.3 * len(v)))):]
    w = max(1, len(v) // max(1, n_windows))
    if len(tail) < 3 or w < 2:
        return 0.0
    x = np.arange(len(tail), dtype=float)
    resid = tail - np.polyval(np.polyfit(x, tail, 1), x)
    return float(2.0 * math.sqrt(2.0) * np.std(resid, ddof=2) / math.sqrt(w))


#: a result counts as good (training longer is advice, not a fault) when the accuracy over
#: chance, (acc - 1/C) / (1 - 1/C), reaches this, or a regression's R^2 does
GOOD_RESULT = 0.8


def good_result(tv: TraceView, gf: GraphFacts) -> str | None:
    """A description of the run's result when it is already good (accuracy over chance, or R^2
    of an MSE regression, at least GOOD_RESULT over the last 20% of the run), else None.
    Classification needs integer targets 0..C-1 (C from their largest value)."""
    res = _class_result(tv)
    if res is not None:
        metric, acc, c, kappa = res
        return f"{metric.replace('_', ' ')} {acc:.3f} with {c} classes" if kappa >= GOOD_RESULT else None
    return good_regression(tv, gf)


def _class_result(tv: TraceView, order: tuple[str, ...] = ("val_accuracy", "accuracy")
                  ) -> tuple[str, float, int, float] | None:
    """(metric, accuracy, classes C, accuracy over chance) at the end of a classification run:
    the first metric of ``order`` with >= 3 records (default: the held-out accuracy when the
    program evaluates, else the training accuracy), over the last 20% of its records. Needs
    integer targets 0..C-1."""
    _, tmax = finite(*tv.series("target_max"))
    if not (len(tmax) and integer_targets(tv)):
        return None
    for metric in order:
        _, a = finite(*tv.series(metric))
        if len(a) >= 3:
            c = max(2.0, float(np.max(tmax)) + 1.0)
            _, acc = head_tail(a)
            return metric, float(acc), int(c), float((acc - 1.0 / c) / (1.0 - 1.0 / c))
    return None


#: a classification run reached its task when its accuracy is at AUTOTRAINER's typical target
#: (0.6) and at least half-way from chance to perfect ((acc - 1/C)/(1 - 1/C) >= 0.5, so a
#: two-class task needs 0.75): then "the loss fell only a little" is how the loss of an
#: under-confident but correct classifier looks, not slow convergence (issue 13's calibration)
TARGET_ACCURACY = 0.6
TARGET_KAPPA = 0.5


def reached_target(tv: TraceView) -> str | None:
    """A description of a classification result that reached the task's target, else None.
    Slow convergence is about fitting the training data: the training accuracy is read first."""
    res = _class_result(tv, ("accuracy", "val_accuracy"))
    if res is None:
        return None
    metric, acc, c, kappa = res
    if acc >= TARGET_ACCURACY and kappa >= TARGET_KAPPA:
        return f"{metric.replace('_', ' ')} {acc:.3f} with {c} classes"
    return None


def far_enough(tv: TraceView, gf: GraphFacts) -> str | None:
    """Whether a run that ends with its loss still falling went far enough that training longer
    is advice, not an ``epochs`` fault: a good result (``good_result``), or a classification that
    reached the task's target (``reached_target``, the bar ``slow_convergence`` uses too). Issue
    13's calibration: tutorials stop by design once the task is learnt (a few epochs at 55-75%
    accuracy over ten classes) while their loss still falls; an epochs fault is a run that ends
    clearly short of that."""
    return good_result(tv, gf) or reached_target(tv) or fitted_cross_entropy(tv, gf)


#: cross-entropy family (the losses of class indices whose chance level is log C)
_CE_LOSSES = frozenset(("CrossEntropyLoss", "NLLLoss"))
#: losses of class indices or 0/1 targets, whose input-blind optimum is the label entropy
_CLASS_LOSSES = _CE_LOSSES | {"BCELoss", "BCEWithLogitsLoss"}


def fitted_cross_entropy(tv: TraceView, gf: GraphFacts) -> str | None:
    """A classification (or next-token) loss that ended at most half-way from chance to zero:
    the last 20% of a mean cross-entropy <= 0.5*log(C), C classes from the targets' largest
    index -- the same half-way bar ``slow_convergence`` uses for "far from fitting". For runs
    that record no accuracy (language models, tutorials that print only the loss). The graph's
    loss types, when known, must be of the cross-entropy family and not sum-reduced."""
    lts = set(gf.loss_types())
    if (lts and not lts <= _CE_LOSSES) or gf.sum_reduced():
        return None
    c = classes_seen(tv)
    if c is None or not integer_targets(tv):
        return None
    _, v = _loss(tv)
    if c < 2 or len(v) < MIN_STEPS:
        return None
    _, tail = head_tail(v)
    if 0 <= tail <= 0.5 * math.log(c):
        return f"cross-entropy {fmt(tail)} <= 0.5*log({c})"
    return None


def good_regression(tv: TraceView, gf: GraphFacts) -> str | None:
    """``good_result`` for regression losses only: R^2 of an MSE, or the mean absolute error
    of an L1-type loss against the targets' standard deviation, at least GOOD_RESULT.
    Absolute-error losses (L1, smooth L1, Huber) are in the targets' units, hence the std."""
    lts = set(gf.loss_types())
    mse = lts == {"MSELoss"}
    if not (mse or (lts and lts <= _ABS_LOSSES)) or gf.sum_reduced():
        return None
    _, v = _loss(tv)
    _, tsd = finite(*tv.series("target_std"))
    if len(v) < MIN_STEPS or not len(tsd):
        return None
    sd = float(np.median(tsd))
    _, tail = head_tail(v)
    if mse:
        var = sd ** 2
        return f"R^2 ~ {1.0 - tail / var:.2f}" if var > 0 and 1.0 - tail / var >= GOOD_RESULT else None
    if sd > 0 and 1.0 - tail / sd >= GOOD_RESULT:
        return f"mean absolute error {fmt(tail)} against target std {fmt(sd)}"
    return None


@register
class CouldTrainLonger(Symptom):
    """Advice, not a fault: the loss was still falling when the run ended, but the result is
    already good or the task's target reached (``far_enough``). Issue 13's calibration: a fault verdict is kept for runs
    that end clearly short of what the task reaches."""

    name = "could_train_longer"
    category = "context"
    reliability = 0.3
    evidence = {"epochs": 0.5}

    def detect(self, tv, gf):
        hit = _still_falling(tv)
        good = far_enough(tv, gf) if hit is not None else None
        if hit is None or good is None:
            return []
        s, z, rel = hit
        return [self.hit(int(s[-1]), tv.nodes("loss")[0], rel,
                         f"could train longer: the loss still fell at the end ({fmt(float(np.min(z[:-2])))} -> "
                         f"{fmt(float(z[-1]))}), with a good result already ({good})", min(1.0, rel / 0.2))]


@register
class TooFewSteps(Symptom):
    """A run that ended by itself after very few training steps, far from converged: too few
    epochs or iterations. Rule (faultlens): the program finished on its own (not cut short by
    a budget, not crashed) after fewer than 2 * MIN_STEPS (20) recorded steps, with its last
    loss still above half its first: the curve symptoms cannot judge so short a run (they need
    MIN_STEPS to 2 * MIN_STEPS points). A short run of 20..99 steps, or of 10..19 whose loss
    already halved, counts when it ended mid-descent and short of the task (``_short_run``)."""

    name = "too_few_steps"
    category = "failure"
    reliability = 0.8
    evidence = {"epochs": 4.0}

    def detect(self, tv, gf):
        if tv.status != "finished" or tv.meta.get("stop_reason") not in (None, "exit"):
            return []
        s, v = _loss(tv)
        if 2 * MIN_STEPS <= len(v) < SHORT_RUN:
            return self._short_run(tv, gf, s, v)
        if not 1 <= len(v) < 2 * MIN_STEPS:
            return []
        first, last = float(v[0]), float(v[-1])
        if first > 0 and last <= 0.5 * first and len(v) >= MIN_STEPS:
            return self._short_run(tv, gf, s, v)  # halved already: judged by its descent
        if first > 0 and last > 0.5 * first:
            # a batch loop inside the epoch loop that ran once an epoch: the whole data set in
            # each batch is why the steps are so few
            g = gf.graph
            nested = g is not None and bool(g.nodes("loop", role="step")) and bool(g.nodes("loop", role="epoch"))
            one_step = nested and sum(1 for e in tv.events if e.event == "epoch") >= len(v)
            return [self.hit(int(s[-1]), tv.nodes("loss")[0], float(len(v)),
                             f"the run ended by itself after {len(v)} training step(s), its loss still at "
                             f"{fmt(last)} from {fmt(first)}" + (" (one batch an epoch: the whole data set in "
                                                                "each batch)" if one_step else ""), 1.0,
                             one_step_epochs=one_step)]
        return []

    def _short_run(self, tv, gf, s, v):
        """A short complete run (10..99 steps) that ended mid-descent: the loss moved (its last
        20% at most 90% of its first 10%) without staying above twice its first value for more than
        a tenth of the run (a blow-up that settles is the learning rate's, not a cut descent; one
        early bump of an adaptive optimizer is not one), the last third of the run still delivered at least a
        quarter of the whole drop, or lowered the loss by a quarter of its own level
        (``late_relative_drop``: a geometric descent from a large start, as a summed squared
        error's, gives its first steps most of the drop yet is far from flat) -- a converged
        curve has flattened by then: its last third gives a few percent -- and the run did not go
        far enough (``far_enough``). The 10-window
        ``still_improving`` rule reads windows of fewer than ten steps here."""
        head, tail = head_tail(v)
        share = late_drop_share(v)
        rel = late_relative_drop(v)
        if not (head > 0 and tail <= 0.9 * head and share is not None and (share >= 0.25 or rel >= 0.25)):
            return []
        if float(np.mean(v > 2.0 * float(v[0]))) > 0.1:
            return []  # it stayed far above its start for a while: a blow-up settling, not a cut descent
        if far_enough(tv, gf) is not None:
            return []
        # one optimizer step an epoch (the whole data set in each batch) is why the run is short,
        # unless the graph shows a lone loop of steps (sampled mini-batches, no batch loop)
        one_step = not gf.lone_step_loop() and sum(1 for e in tv.events if e.event == "epoch") >= len(v)
        return [self.hit(int(s[-1]), tv.nodes("loss")[0], float(len(v)),
                         f"the run ended by itself after {len(v)} training steps while its loss was still "
                         f"falling ({fmt(head)} -> {fmt(tail)}; the last third of the run gave {share:.0%} "
                         "of the drop)" + (" (one batch an epoch: the whole data set in each batch)" if one_step else ""),
                         0.9, one_step_epochs=one_step, short_run=True)]


#: runs shorter than this that end by themselves are judged by ``too_few_steps``'s short-run rule
SHORT_RUN = 100


#: fewest examples behind the training accuracy records that the accuracy rules judge: the
#: standard error of an accuracy read from n examples is up to sqrt(0.25/n), 0.09 at n = 30,
#: already a tenth of the 0.6 target (binomial sampling; the rule-of-thumb n >= 30)
MIN_ACCURACY_EXAMPLES = 30


def accuracy_examples(tv: TraceView, steps: np.ndarray) -> float:
    """How many target values the accuracy records at ``steps`` were computed from (the
    ``target_numel`` recorded at those steps; its median where a step has none: the batch
    statistics are sampled more sparsely than the accuracy); infinite for a trace that records
    no ``target_numel`` (nothing to count with)."""
    if not len(steps):
        return 0.0
    st, nm = finite(*tv.series("target_numel"))
    if not len(st):
        return math.inf
    by_step = dict(zip(st.tolist(), nm.tolist()))
    typical = float(np.median(nm))
    return float(sum(max(1.0, by_step.get(int(x), typical)) for x in steps))


def classes_seen(tv: TraceView) -> int | None:
    """The number of classes the targets index (their largest value + 1), None unrecorded."""
    _, tmax = finite(*tv.series("target_max"))
    return int(np.max(tmax)) + 1 if len(tmax) else None


#: a language model counts as converged on its stochastic targets when its last third gave
#: less than this share of the loss's drop and its loss ended this far below the entropy of the
#: token frequencies
LM_FLAT_SHARE = 0.2
LM_BELOW_FREQUENCIES = 0.9


def _converged_language_model(tv: TraceView, gf: GraphFacts) -> bool:
    """A next-token model that converged: its inputs are embedded tokens of a vocabulary that
    holds the target classes (an ``nn.Embedding`` of >= n_cls entries, n_cls >= 20), its loss
    flattened (``late_drop_share`` < LM_FLAT_SHARE) well below the token frequencies' entropy
    (``target_entropy``). Text is stochastic: the best next-token accuracy of a language model
    is often far below AUTOTRAINER's 0.6, and its cross-entropy above half of log(C), so the
    accuracy and below-target rules, written for labels that the inputs determine, do not apply."""
    n_cls = classes_seen(tv)
    _, v = _loss(tv)
    if n_cls is None or n_cls < 20 or len(v) < MIN_STEPS or gf.graph is None:
        return False
    _, tail = head_tail(v)
    vocab = [(n.get("args") or {}).get("num_embeddings", (n.get("args") or {}).get("0"))
             for n in gf.graph.nodes("layer") if n.get("layer_type") == "Embedding"]
    if not any(isinstance(x, int) and not isinstance(x, bool) and x >= n_cls for x in vocab):
        return False
    share = late_drop_share(v)
    _, h = finite(*tv.series("target_entropy"))
    return share is not None and share < LM_FLAT_SHARE and len(h) > 0 and tail <= LM_BELOW_FREQUENCIES * float(h[-1])


def late_drop_share(v: np.ndarray) -> float | None:
    """The share of a loss curve's drop (first 10% -> last 20%) that its last third delivered
    (mean of the second third minus mean of the last third), or None when it did not fall."""
    thirds = _late_thirds(v)
    head, tail = head_tail(v)
    total = head - tail
    if thirds is None or total <= 0:
        return None
    return float((thirds[0] - thirds[1]) / total)


def late_relative_drop(v: np.ndarray) -> float:
    """How far the last third of a loss curve lies below its second third, relative to the last
    third's level: (mean of the second third - mean of the last) / |mean of the last|; 0 for a
    curve too short (< 6 points) or not falling."""
    thirds = _late_thirds(v)
    if thirds is None:
        return 0.0
    mid, last = thirds
    return max(0.0, (mid - last) / abs(last)) if last != 0 else 0.0


def _late_thirds(v: np.ndarray) -> tuple[float, float] | None:
    """(mean of the second third, mean of the last third) of a loss curve of >= 6 points."""
    if len(v) < 6:
        return None
    third = max(2, len(v) // 3)
    return float(np.mean(v[-2 * third:-third])), float(np.mean(v[-third:]))


def _constant_weight_init(gf: GraphFacts) -> Any:
    """The graph's first initialisation that sets weights (not only biases) to one constant --
    ``nn.init.constant_(p, 0.01)`` in a loop over ``model.parameters()`` included -- or None.
    Units that start equal stay equal (the same gradient each): the layer has the capacity of
    one unit, the symmetry that random initialisation exists to break (Goodfellow, Bengio and
    Courville, Deep Learning, 8.4)."""
    return next((n for n in gf.graph.nodes("init") if gf.symmetric_init(n)), None)


#: layers whose state or output width is a keyword argument other than ``out_features``
_STATE_WIDTH = {"LSTM": "hidden_size", "GRU": "hidden_size", "RNN": "hidden_size", "LSTMCell": "hidden_size",
                "GRUCell": "hidden_size", "RNNCell": "hidden_size", "Embedding": "embedding_dim"}


def _narrow_state_layers(gf: GraphFacts) -> list[tuple[Any, float]]:
    """Recurrent layers with a hidden state, and embeddings, of width 1 or 2: (layer, width).
    The linear-layer width check does not see them (their width is ``hidden_size`` or
    ``embedding_dim``), yet a one-unit LSTM state bottlenecks the network just as a one-unit
    hidden layer does."""
    out = []
    for n in gf.graph.nodes("layer"):
        key = _STATE_WIDTH.get(n.get("layer_type") or "")
        w = (n.get("args") or {}).get(key) if key else None
        if isinstance(w, int) and not isinstance(w, bool) and 0 < w <= 2:
            out.append((n, float(w)))
    return out


@register
class CapacityLimit(Symptom):
    """The network cannot represent the task: a hidden layer of width 1 or 2 narrower than the
    output, weights initialised to one constant (every unit of a layer stays the same unit:
    ``problem="symmetric"``, read as weight_initialization), or a network whose weight layers
    form one linear chain (no nonlinearity between any of them, so they collapse into one
    linear map), together with a training-loss floor: the
    run ended without a good result (``good_result``) and with its loss above a quarter of its
    start. Issue 13's capacity class; the static facts are the structure features of the
    program graph (``faultlens.models.features.structure_features``)."""

    name = "capacity_limit"
    category = "failure"
    reliability = 0.75
    evidence = {"architecture": 3.5}

    def detect(self, tv, gf):
        if gf.graph is None or cut_by_budget(tv):
            return []
        s, v = _loss(tv)
        if len(v) < MIN_STEPS:
            return []
        head, tail = head_tail(v)
        if not (head > 0 and tail >= 0.25 * head) or good_result(tv, gf) is not None:
            return []
        from faultlens.models.features import narrowest_hidden_layer, structure_features
        narrow = narrowest_hidden_layer(gf.graph)
        if narrow is not None:
            layer, width, n_out = narrow
            if width <= 2 and n_out > width:
                return [self.hit(int(s[-1]), layer.id, width,
                                 f"hidden layer of width {int(width)} before {int(n_out)} outputs, and the loss "
                                 f"stayed at {fmt(tail)} from {fmt(head)}", 1.0, problem="narrow")]
        n_out = gf.output_width()
        for layer, width in _narrow_state_layers(gf):
            if n_out is not None and n_out > width:
                return [self.hit(int(s[-1]), layer.id, width,
                                 f"{layer.get('layer_type')} of width {int(width)} before {int(n_out)} outputs, and "
                                 f"the loss stayed at {fmt(tail)} from {fmt(head)}", 1.0, problem="narrow")]
        sym = _constant_weight_init(gf)
        if sym is not None:
            return [self.hit(int(s[-1]), sym.id, 1.0,
                             f"weights initialised to one constant ({sym.get('fn')}: every unit of a layer computes "
                             f"the same and gets the same update), and the loss stayed at {fmt(tail)} from "
                             f"{fmt(head)}", 1.0, problem="symmetric")]
        if structure_features(gf.graph).get("static.linear_chain_frac") == 1.0:
            first = narrowest_hidden_layer(gf.graph, first=True)
            node = first[0].id if first is not None else tv.nodes("loss")[0]
            return [self.hit(int(s[-1]), node, 1.0,
                             f"no nonlinearity between the weight layers (one linear map), and the loss stayed at "
                             f"{fmt(tail)} from {fmt(head)}", 0.9, problem="linear")]
        return []
