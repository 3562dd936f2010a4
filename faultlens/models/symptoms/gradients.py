"""Symptoms read from gradient, weight and update statistics."""
from __future__ import annotations

import math

import numpy as np

from faultlens.models.symptoms.base import (
    MIN_STEPS, Symptom, adversarial_training, finite, fmt, head_tail, judged, register,
)
from faultlens.models.symptoms.graph_facts import GraphFacts, base_node
from faultlens.taxonomy import ADAPTIVE_OPTIMIZERS
from faultlens.models.symptoms.trace_view import TraceView


def param_order_key(node: str) -> tuple:
    """Sort key putting parameters in definition order: graph ids ``kind:path:line:name#p``
    sort by (path, line, name); external ``<model>#a.0.weight`` names by their dotted parts
    with numbers compared as numbers."""
    head, _, suffix = node.partition("#")
    parts = head.split(":")
    line = 0
    if len(parts) >= 4 and parts[2].isdigit():
        line = int(parts[2])
    path = parts[1] if len(parts) >= 2 else ""
    dotted = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in suffix.split("."))
    return (path, line, dotted)


def _weight_grads(tv: TraceView) -> list[str]:
    """Parameter nodes with gradient norms, in definition order; weights only when the trace
    names them (biases are skipped: AUTOTRAINER compares layer weights)."""
    nodes = [n for n in tv.nodes("grad_norm") if n]
    w = [n for n in nodes if n.endswith("#weight") or n.endswith(".weight")]
    return sorted(w or nodes, key=param_order_key)


def _ratio_series(tv: TraceView) -> tuple[str, str, np.ndarray, np.ndarray, np.ndarray] | None:
    nodes = _weight_grads(tv)
    if len(nodes) < 2:
        return None
    first, last = nodes[0], nodes[-1]
    s1, g1 = tv.series("grad_norm", first)
    s2, g2 = tv.series("grad_norm", last)
    common, i1, i2 = np.intersect1d(s1, s2, return_indices=True)
    if len(common) == 0:
        return None
    a, b = g1[i1], g2[i2]
    ok = np.isfinite(a) & np.isfinite(b)
    return first, last, common[ok], a[ok], b[ok]


#: consecutive gradient-norm records whose median ``exploding_gradient`` reads as the peak
#: (fewer where the series has under 20 records per window)
PEAK_WINDOW = 5


@register
class ExplodingGradient(Symptom):
    """Gradients blow up.

    Threshold (AUTOTRAINER): ||g_first layer|| / ||g_last layer|| >= 70 (median over the run
    after its first 30%); or (DEFault: max gradient > 70) the total gradient norm exceeds 70
    and grew >= 10x over the run, the peak read on medians of ``PEAK_WINDOW`` consecutive records
    (one large batch is a spike). Non-finite gradients are reported by ``nan_or_inf``."""

    name = "exploding_gradient"
    category = "failure"
    reliability = 0.85
    evidence = {"learning_rate": 1.5, "weight_initialization": 0.8, "data_preprocessing": 0.6,
                "architecture": 0.3}

    def detect(self, tv, gf):
        r = _ratio_series(tv)
        if r is not None and len(r[2]) >= 3:
            first, last, s, a, b = r
            js, ratio = judged(s, a / np.maximum(b, 1e-30))
            if len(ratio) and np.median(ratio) >= 70:
                med = float(np.median(ratio))
                return [self.hit(int(js[0]), gf.canonical(first), med,
                                 f"first-layer gradient {fmt(med)}x the last layer's (limit 70)",
                                 min(1.0, math.log10(med / 70) + 0.5), first=first, last=last)]
        for node in tv.nodes("grad_norm_total"):
            s, g = finite(*tv.series("grad_norm_total", node))
            if len(g) >= 5:
                k = max(1, len(g) // 10)
                early = float(np.median(g[:k]))
                # the peak after the early window: a run whose largest gradient is its first one
                # (a large initial loss that training then brings down) did not grow. Read on
                # medians of PEAK_WINDOW consecutive records where there are many: one large
                # batch gradient among hundreds of records is a spike, not growth, and the
                # largest of n noisy records grows with n alone
                late = g[k:]
                w = min(PEAK_WINDOW, max(1, len(g) // 20))
                if w > 1 and len(late) >= w:
                    late = np.median(np.lib.stride_tricks.sliding_window_view(late, w), axis=1)
                peak_i = int(np.argmax(late))
                peak = float(late[peak_i])
                if peak > 70 and peak >= 10 * max(early, 1e-12):
                    return [self.hit(int(s[k + peak_i]), node, peak,
                                     f"total gradient norm grew to {fmt(peak)} from {fmt(early)}", 1.0)]
        return []


@register
class VanishingGradient(Symptom):
    """Gradients of the first layers vanish.

    Threshold (AUTOTRAINER): ||g_first|| / ||g_last|| <= 1e-3 and ||g_first|| <= 1e-4
    (medians over the run after its first 30%)."""

    name = "vanishing_gradient"
    category = "failure"
    reliability = 0.8
    evidence = {"activation": 1.5, "weight_initialization": 1.2, "architecture": 0.4,
                "learning_rate": 0.3}

    def detect(self, tv, gf):
        r = _ratio_series(tv)
        if r is None or len(r[2]) < 3:
            return []
        first, last, s, a, b = r
        js, ja = judged(s, a)
        _, jb = judged(s, b)
        if not len(ja):
            return []
        ga, gb = float(np.median(ja)), float(np.median(jb))
        ratio = ga / max(gb, 1e-30)
        if ratio <= 1e-3 and ga <= 1e-4 and gb > 0:
            return [self.hit(int(js[0]), gf.canonical(first), ratio,
                             f"first-layer gradient {fmt(ga)} is {fmt(ratio)} of the last layer's",
                             1.0, first_norm=ga, last_norm=gb)]
        return []


#: a relative change below which float32 weights round back to themselves: a few units of
#: its machine epsilon (2**-23 ~ 1.2e-7)
FLOAT32_STEP = 1e-6


def _plain_step_size(tv: TraceView, gf: GraphFacts) -> float | None:
    """The largest recorded lr where every optimizer of the program takes plain gradient steps
    (a step of lr x gradient, as SGD's; not an adaptive one, whose step is about lr whatever
    the gradient's size), else None."""
    if not gf.optimizers or any((o.get("optimizer_type") or "") in ADAPTIVE_OPTIMIZERS or not o.get("optimizer_type")
                                for o in gf.optimizers):
        return None
    lrs = [float(np.max(v)) for v in (finite(*tv.series("lr", n))[1] for n in tv.nodes("lr")) if len(v)]
    return max(lrs) if lrs else None


@register
class UnchangedWeights(Symptom):
    """The weights do not change.

    Thresholds (DeepDiagnosis): vanishing update, mean |dw| < 1e-7 — applied here to the
    relative update ||dw||/||w|| (``update_ratio_total``) over >= 5 checks; or the total weight
    norm equal to the mean of its last 5 checks (unchanged weights). Also fires per parameter
    when a parameter receives non-zero gradients but never moves while others do (it is not
    in the optimizer), unless plain gradient steps of that size (lr x the gradient's norm) are
    below float32's resolution of the weights' norm: a sub-network behind a zero-initialised
    head (a spatial transformer's localisation net) gets gradients of 1e-7 that round away."""

    name = "unchanged_weights"
    category = "failure"
    reliability = 0.9
    evidence = {"training_loop": 1.2, "learning_rate": 1.0, "optimizer": 1.0}

    def detect(self, tv, gf):
        out = []
        for node in tv.nodes("update_ratio_total"):
            s, u = finite(*tv.series("update_ratio_total", node))
            if len(u) >= 5 and np.all(u[-5:] < 1e-7):
                return [self.hit(int(s[-5]), node, float(np.max(u[-5:])),
                                 f"weights do not move (update ratio {fmt(float(np.max(u[-5:])))})", 1.0)]
        for node in tv.nodes("weight_norm_total"):
            s, w = finite(*tv.series("weight_norm_total", node))
            if len(w) >= 6 and w[-1] > 0 and np.all(np.abs(w[-6:] - w[-6]) <= 1e-12 * max(1.0, abs(w[-6]))):
                return [self.hit(int(s[-6]), node, float(w[-1]), "total weight norm constant over 5 checks", 1.0)]
        # per-parameter: gradients but no movement while others move
        moving, frozen = [], []
        step_size = _plain_step_size(tv, gf)
        for node in tv.nodes("update_ratio"):
            s, u = finite(*tv.series("update_ratio", node))
            gs, g = finite(*tv.series("grad_norm", node))
            if len(u) < 3:
                continue
            if np.all(u < 1e-12):
                _, w = finite(*tv.series("weight_norm", node))
                rounded = step_size is not None and len(g) and len(w) and \
                    step_size * float(np.median(g)) < FLOAT32_STEP * float(np.median(w))
                if len(g) and np.median(g) > 1e-8 and not rounded:
                    frozen.append((node, int(s[0])))
            else:
                moving.append(node)
        if frozen and moving:
            for node, st in frozen:
                out.append(self.hit(st, gf.canonical(node), 0.0,
                                    f"{node.split('#')[-1]} of {gf.canonical(node)} gets gradients but never changes",
                                    0.8, scope="parameter"))
        return out


@register
class AbnormalUpdateRatio(Symptom):
    """The relative weight update per step is far from the usual 1e-3.

    Threshold (TheDeepChecker): log10(||update|| / ||param||) outside [-4, -1], taken as the
    median of ``update_ratio_total`` after the first 30% of the run (>= 5 records; with fewer,
    all records, >= 3). DeepDiagnosis
    uses the same idea (lr·||dw||/||w|| far from 1e-3). Context only: it tells a too-small
    learning rate from a data problem, and a too-large one from an architecture problem."""

    name = "abnormal_update_ratio"
    category = "context"
    reliability = 0.4
    evidence = {"learning_rate": 1.5}

    def detect(self, tv, gf):
        for node in tv.nodes("update_ratio_total"):
            s, u = finite(*tv.series("update_ratio_total", node))
            js, ju = judged(s, u)
            if len(ju) < 5:  # sparsely sampled runs: judge all records when there are >= 3
                js, ju = s, u
            if len(ju) < 3:
                continue
            med = float(np.median(ju))
            if med <= 0:
                continue  # unchanged_weights covers it
            lg = math.log10(med)
            if lg < -4 or lg > -1:
                return [self.hit(int(js[0]), node, med,
                                 f"median update ratio {fmt(med)} ({'too small' if lg < -4 else 'too large'}; "
                                 "usual 1e-4..1e-1)", min(1.0, abs(lg - (-2.5)) / 3), direction="low" if lg < -4 else "high")]
        return []


@register
class DeadGradients(Symptom):
    """Training stopped: a model's gradients, non-zero at the start, became (numerically) zero.

    Threshold (faultlens): the model's total gradient norm over the run after its first 30% has
    a median <= 1e-12x its first record and <= 1e-8, while the loss did not come down (its last
    20% >= 0.5x its first 10%: a fitted model's gradients shrink because its loss has). Nothing
    moves any more: the units the loss depends on are saturated or dead (a sigmoid output
    driven to 0 or 1, ReLUs pushed below zero), which a step too large for the network does
    during training; an initialisation that kills the gradients does so from the first step,
    so a first record that is not zero points to the run's updates. Not a loss-trend symptom:
    it holds in adversarial training too."""

    name = "dead_gradients"
    category = "failure"
    reliability = 0.8
    evidence = {"learning_rate": 1.8, "activation": 0.8, "weight_initialization": 0.4, "optimizer": 0.3}

    def detect(self, tv, gf):
        _, loss = finite(*tv.loss())
        if len(loss) >= MIN_STEPS:
            lh, lt = head_tail(loss)
            if lh > 0 and lt < 0.5 * lh:
                return []
        for node in tv.nodes("grad_norm_total"):
            s, g = finite(*tv.series("grad_norm_total", node))
            if len(g) < 5 or g[0] <= 0:
                continue
            js, jg = judged(s, g)
            if len(jg) < 3:
                continue
            med = float(np.median(jg))
            if med <= 1e-12 * float(g[0]) and med <= 1e-8:
                return [self.hit(int(js[0]), node, med,
                                 f"gradient norm of {node.split(':')[-1]} fell to {fmt(med)} from {fmt(float(g[0]))}: "
                                 "training has stopped", 1.0, initial=float(g[0]))]
        return []


@register
class AdversaryImbalance(Symptom):
    """In adversarial training (a GAN), one player barely moves while its adversary trains.

    Threshold (faultlens): in a run that ``adversarial_training`` recognises, the median update
    ratio ||dw||/||w|| of one model is below the usual range (< 1e-4) and >= 100x smaller than
    another model's, which is in it (>= 1e-4; medians after the first 30% of the run, or over
    every record when fewer than 3 are after it). The two players of a minimax game must learn
    at comparable rates (two time-scale rules keep them within a few times of each other; Heusel
    et al. 2017, "GANs trained by a two time-scale update rule"): the one that does not is given
    too small a step. The loss curves of such a game are not judged, so this is what shows it."""

    name = "adversary_imbalance"
    category = "failure"
    reliability = 0.75
    evidence = {"learning_rate": 2.0, "optimizer": 0.6}

    def detect(self, tv, gf):
        if adversarial_training(tv) is None:
            return []
        rates: dict[str, float] = {}
        for node in tv.nodes("update_ratio_total"):
            s, u = finite(*tv.series("update_ratio_total", node))
            js, ju = judged(s, u)
            if len(ju) < 3:
                ju = u
            if len(ju) >= 3:
                rates[node] = float(np.median(ju))
        if len(rates) < 2:
            return []
        lo_node = min(rates, key=rates.get)
        hi_node = max(rates, key=rates.get)
        lo, hi = rates[lo_node], rates[hi_node]
        if 0 < lo < 1e-4 <= hi and hi >= 100 * lo:
            return [self.hit(int(tv.steps - 1), lo_node, lo,
                             f"{lo_node.split(':')[-1]} barely moves (update ratio {fmt(lo)}) while its adversary "
                             f"{hi_node.split(':')[-1]} trains ({fmt(hi)})", 1.0, adversary=hi_node)]
        return []


@register
class ShrinkingWeights(Symptom):
    """Training spends itself shrinking weights that started far too large.

    Threshold (faultlens): a model's total weight norm over the last 20% of its records is
    <= 0.1x its first record (after >= 5 records), falling (its last third below its first),
    with no weight decay of 1e-2 or more set (``strong_weight_decay`` judges decay). Training
    moves the weights towards a solution whose scale the data sets; weights that must shrink
    tenfold to get there were initialised out of scale (a ``randn() * 100``, a constant far
    from zero), and the run spends its budget undoing that."""

    name = "shrinking_weights"
    category = "failure"
    reliability = 0.7
    evidence = {"weight_initialization": 2.0, "learning_rate": 0.3, "regularization": 0.3}

    def detect(self, tv, gf):
        for node in tv.nodes("weight_decay"):
            _, wd = finite(*tv.series("weight_decay", node))
            if len(wd) and float(np.max(wd)) >= 1e-2:
                return []
        for node in tv.nodes("weight_norm_total"):
            s, w = finite(*tv.series("weight_norm_total", node))
            if len(w) < 5 or w[0] <= 0:
                continue
            k = max(1, len(w) // 5)
            third = max(1, len(w) // 3)
            end = float(np.median(w[-k:]))
            if end <= 0.1 * float(w[0]) and np.mean(w[-third:]) < np.mean(w[:third]):
                return [self.hit(int(s[0]), node, float(w[0]) / max(end, 1e-30),
                                 f"weight norm of {node.split(':')[-1]} fell from {fmt(float(w[0]))} to {fmt(end)} "
                                 "during training: the weights started out of scale",
                                 min(1.0, math.log10(float(w[0]) / max(end, 1e-30)) / 2), initial=float(w[0]), end=end)]
        return []


#: relative difference between a custom Function's backward and central differences of its
#: forward above which the backward is wrong (float64 central differences agree to ~1e-8 on
#: smooth functions; a kink crossed by the step moves a projection by far less than this)
CUSTOM_GRADIENT_TOLERANCE = 0.1


@register
class CustomGradientMismatch(Symptom):
    """The hand-written ``backward`` of a ``torch.autograd.Function`` the program defines does
    not match its ``forward``: a random projection of its gradient differs from central
    differences by more than ``CUSTOM_GRADIENT_TOLERANCE`` (the probe's ``function_grad_error``,
    the fast mode of ``torch.autograd.gradcheck``). A defect whatever the loss does: wrong
    gradients train the model towards something else. Not judged for a Function whose backward
    differs on purpose (the analyzer's ``surrogate``: a straight-through estimator over a step
    function, a gradient-reversal layer over the identity)."""

    name = "custom_gradient_mismatch"
    category = "defect"
    reliability = 0.9
    evidence = {"activation": 3.0, "architecture": 0.5}

    def detect(self, tv, gf):
        out = []
        surrogate = set()
        if gf.graph is not None:
            surrogate = {n.id for n in gf.graph.nodes("function") if n.get("surrogate")}
        for node in tv.nodes("function_grad_error"):
            if node in surrogate:
                continue
            s, v = finite(*tv.series("function_grad_error", node))
            if not len(v) or float(np.max(v)) <= CUSTOM_GRADIENT_TOLERANCE:
                continue
            _, el = finite(*tv.series("function_elementwise", node))
            err = float(np.max(v))
            out.append(self.hit(int(s[0]), node, err,
                                f"the backward of {node.rsplit(':', 1)[-1]} differs from its forward's derivative "
                                f"by {err:.0%} (random projection, float64 central differences)",
                                min(1.0, err / 0.5), elementwise=bool(len(el) and el[-1] > 0.5)))
        return out
