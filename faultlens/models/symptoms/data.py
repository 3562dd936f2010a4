"""Symptoms about the data entering the model and the output leaving it, and curvature."""
from __future__ import annotations

import numpy as np

from faultlens.models.symptoms.base import Symptom, finite, fmt, integer_targets, judged, register
from faultlens.taxonomy import LOGIT_LOSSES, REGRESSION_LOSSES


@register
class InputOutOfRange(Symptom):
    """Model inputs that are not on a unit scale (unnormalised data).

    UMLAUT and DeepDiagnosis flag inputs outside [-1, 1]. Standardised data (std 1) has
    values beyond +-1 as a rule, so faultlens flags only inputs clearly off unit scale: the
    median per-batch std > 3, or the median per-batch |mean| > 3, or any |value| > 100 (raw
    pixel or feature scales). Strength 1 when the scale is off by >= 5x."""

    name = "input_out_of_range"
    category = "context"
    reliability = 0.55
    evidence = {"data_preprocessing": 2.5}

    def detect(self, tv, gf):
        for node in tv.nodes("input_std") or tv.nodes("input_max"):
            _, sd = finite(*tv.series("input_std", node))
            _, mu = finite(*tv.series("input_mean", node))
            s, mx = finite(*tv.series("input_max", node))
            _, mn = finite(*tv.series("input_min", node))
            _, isf = finite(*tv.series("input_is_float", node))
            if len(isf) and np.median(isf) < 0.5:
                continue  # integer inputs: token ids / indices, not features
            msd = float(np.median(sd)) if len(sd) else 0.0
            mmu = float(np.median(np.abs(mu))) if len(mu) else 0.0
            amax = float(max(np.max(np.abs(mx)) if len(mx) else 0.0, np.max(np.abs(mn)) if len(mn) else 0.0))
            if msd > 3 or mmu > 3 or amax > 100:
                scale = max(msd, mmu, amax / 10)
                return [self.hit(int(s[0]) if len(s) else 0, node, amax,
                                 f"inputs range to {fmt(amax)} (batch std {fmt(msd)}, mean {fmt(mmu)}); expected ~unit scale",
                                 1.0 if scale >= 5 else 0.6, std=msd, mean=mmu)]
        return []


@register
class TargetOutOfRange(Symptom):
    """Regression targets far from unit scale with a regression loss (MSE/L1/Huber): the loss
    and gradients are then dominated by the target scale. Threshold (faultlens, by analogy with
    the input rule of UMLAUT/DeepDiagnosis): median per-batch target std > 10 or |mean| > 10."""

    name = "target_out_of_range"
    category = "context"
    reliability = 0.5
    evidence = {"data_preprocessing": 2.0}

    def detect(self, tv, gf):
        lt = set(gf.loss_types())
        if lt and not (lt & REGRESSION_LOSSES):
            return []
        for node in tv.nodes("target_std"):
            _, isint = finite(*tv.series("target_is_int", node))
            if len(isint) and np.median(isint) > 0.5:
                continue
            s, sd = finite(*tv.series("target_std", node))
            _, mu = finite(*tv.series("target_mean", node))
            msd = float(np.median(sd)) if len(sd) else 0.0
            mmu = float(np.median(np.abs(mu))) if len(mu) else 0.0
            if (msd > 10 or mmu > 10) and (lt & REGRESSION_LOSSES or not lt):
                return [self.hit(int(s[0]) if len(s) else 0, node, max(msd, mmu),
                                 f"regression targets have std {fmt(msd)}, mean {fmt(mmu)}",
                                 1.0 if max(msd, mmu) >= 30 else 0.8)]
        return []


@register
class OutputRangeMismatch(Symptom):
    """The model's final output does not match what the loss expects.

    Rules (semantics of the torch losses; the static form is TorchFix/CodeGuru's
    "redundant softmax before CrossEntropyLoss" and "softmax with NLLLoss"):
    * CrossEntropyLoss / BCEWithLogitsLoss take logits: fires when every recorded output lies in
      [0, 1] (probabilities; >= 3 checks);
    * NLLLoss takes log-probabilities (<= 0): fires when the output max is > 0 at >= 50% of the
      checks (raw scores; log_softmax missing);
    * BCELoss takes probabilities: fires when outputs leave [0, 1] (sigmoid missing);
    * the output checks must span >= 30% of the run, or the graph must show the op that bounds
      the output (a softmax/sigmoid/ReLU head): outputs at initialisation can sit in [0, 1] by
      chance;
    * regression losses (MSE/L1/Huber): the output is bounded (never below 0, e.g. a final
      ReLU/sigmoid) while the targets go below -0.5 std in >= 50% of batches, or the output stays
      in [0, 1] while the targets exceed 1 + 0.5 std in >= 50% of batches: the model cannot
      represent its targets. Without a bounding head in the graph the outputs must reach the
      bound (a minimum within 1% of the maximum's scale of 0, a maximum >= 0.99): outputs of
      an affine head that stayed positive because training barely moved them are no bound."""

    name = "output_range_mismatch"
    category = "defect"
    reliability = 0.9
    evidence = {"activation": 3.0, "loss_function": 2.6}

    def detect(self, tv, gf):
        lts = gf.loss_types()
        if not lts:
            return []
        lt = lts[0]
        # the loss's own inputs, when recorded, overrule the model output: an op applied in the
        # loop (log_softmax before NLLLoss, sigmoid before BCELoss) sits between the two
        _, in_mx = finite(*tv.series("loss_input_max"))
        _, in_mn = finite(*tv.series("loss_input_min"))
        known_in = len(in_mx) >= 3 and len(in_mn) >= 3
        out_nodes = [n for n in tv.nodes("act_max") if n.endswith("#output")]
        feeders = set(tv.nodes("feeds_loss"))
        if feeders:  # only the outputs that were loss inputs (not a GAN generator's images)
            out_nodes = [n for n in out_nodes if n[: -len("#output")] in feeders]
        for node in out_nodes:
            s, mx = tv.series("act_max", node)
            _, mn = tv.series("act_min", node)
            n = min(len(mx), len(mn))
            if n < 3:
                continue
            s, mx, mn = s[:n], mx[:n], mn[:n]
            ok = np.isfinite(mx) & np.isfinite(mn)
            s, mx, mn = s[ok], mx[ok], mn[ok]
            if len(mx) < 3:
                continue
            # the checks must cover the run (outputs at initialisation can sit in [0, 1] by
            # chance), unless the graph shows the squashing op / bounded head itself
            spans_run = (s.max() - s.min()) >= 0.3 * max(tv.steps - 1, 1)
            last_kinds = {gf.kind_of(n.id) for n in gf.last_forward_items()}
            squashed = bool(last_kinds & {"Softmax", "Sigmoid"})
            bounded_head = bool(last_kinds & {"ReLU", "ReLU6", "Sigmoid", "Softplus", "Softmax"})
            if lt in LOGIT_LOSSES and np.all(mn >= 0) and np.all(mx <= 1.0 + 1e-6) and (spans_run or squashed) \
                    and not (known_in and (np.any(in_mn < 0) or np.any(in_mx > 1.0 + 1e-6))):
                return [self.hit(int(s[0]), node, [float(mn.min()), float(mx.max())],
                                 f"outputs stay in [0, 1] (probabilities) but {lt} expects raw logits", 1.0,
                                 loss_type=lt, problem="probabilities_into_logit_loss")]
            if lt == "NLLLoss" and np.mean(mx > 1e-6) >= 0.5 and (spans_run or "LogSoftmax" not in last_kinds) \
                    and not (known_in and np.mean(in_mx > 1e-6) < 0.5):
                return [self.hit(int(s[0]), node, float(mx.max()),
                                 "outputs exceed 0 but NLLLoss expects log-probabilities (log_softmax missing)", 1.0,
                                 loss_type=lt, problem="scores_into_nll")]
            if lt in REGRESSION_LOSSES and (spans_run or bounded_head):
                _, tmin = finite(*tv.series("target_min"))
                _, tmax = finite(*tv.series("target_max"))
                _, tsd = finite(*tv.series("target_std"))
                if len(tmin) >= 3 and len(tmax) >= 3:
                    sd = float(np.median(tsd)) if len(tsd) else 1.0
                    below = float(np.mean(tmin < -0.5 * sd))
                    above = float(np.mean(tmax > 1 + 0.5 * sd))
                    # without a bounding head in the graph, outputs that merely stayed positive
                    # (a model that barely trained) are no bound: a bounded output pushed towards
                    # targets beyond its bound reaches it (a ReLU's zeros, a saturated sigmoid)
                    at_floor = bounded_head or float(mn.min()) <= 0.01 * max(float(mx.max()), 1e-12)
                    at_ceiling = bounded_head or float(mx.max()) >= 0.99
                    if np.all(mn >= 0) and below >= 0.5 and at_floor:
                        bounded = "[0, 1]" if np.all(mx <= 1 + 1e-6) else "[0, inf)"
                        return [self.hit(int(s[0]), node, [float(mn.min()), float(mx.max())],
                                         f"outputs never go below 0 ({bounded}) but targets do in {below:.0%} of "
                                         f"batches (min {fmt(float(tmin.min()))})", 1.0,
                                         loss_type=lt, problem="bounded_output_regression")]
                    if np.all(mn >= 0) and np.all(mx <= 1 + 1e-6) and above >= 0.5 and at_ceiling:
                        return [self.hit(int(s[0]), node, [float(mn.min()), float(mx.max())],
                                         f"outputs stay in [0, 1] but targets exceed 1 in {above:.0%} of batches "
                                         f"(max {fmt(float(tmax.max()))})", 1.0,
                                         loss_type=lt, problem="bounded_output_regression")]
            if lt == "BCELoss" and (np.any(mn < 0) or np.any(mx > 1)):
                return [self.hit(int(s[0]), node, [float(mn.min()), float(mx.max())],
                                 "outputs leave [0, 1] but BCELoss expects probabilities", 1.0,
                                 loss_type=lt, problem="logits_into_bce")]
        return []


@register
class BeyondStability(Symptom):
    """The learning rate is beyond the stability limit of the loss curvature.

    Threshold (edge of stability: Cohen et al., ICLR 2021; Adam: Cohen et al. 2022): lambda_max * lr > limit, where the limit
    is 2 for plain gradient descent, 2(1+beta) for heavy-ball momentum and (2+2b1)/(1-b1) for
    Adam's preconditioned sharpness; the trace's ``stability_limit`` is used when recorded,
    else 2. Fires when >= 50% of the curvature checks after the first 30% of the run exceed
    it (or all checks, when fewer than 3)."""

    name = "beyond_stability"
    category = "failure"
    reliability = 0.85
    evidence = {"learning_rate": 3.0}

    def detect(self, tv, gf):
        for node in tv.nodes("lambda_max_lr"):
            s, x = finite(*tv.series("lambda_max_lr", node))
            if not len(x):
                continue
            ls, lim = finite(*tv.series("stability_limit", node))
            limit = float(np.median(lim)) if len(lim) else 2.0
            js, jx = judged(s, x) if len(x) >= 3 else (s, x)
            if not len(jx):
                js, jx = s, x
            frac = float(np.mean(jx > limit))
            if frac >= 0.5:
                lam = None
                s2, l2 = finite(*tv.series("lambda_max", node))
                if len(l2):
                    lam = float(np.median(l2[-max(1, len(l2) // 2):]))
                return [self.hit(int(js[int(np.argmax(jx > limit))]), node, float(np.median(jx)),
                                 f"lambda_max*lr = {fmt(float(np.median(jx)))} exceeds the stability limit {fmt(limit)}",
                                 min(1.0, float(np.median(jx)) / limit - 0.5), limit=limit, lambda_max=lam)]
        return []


@register
class PreprocessingMismatch(Symptom):
    """Training and evaluation inputs are preprocessed differently: the same model sees inputs
    on another scale when it is evaluated (a Normalize applied to the training set only, or to
    the test set only). Rule (faultlens): for a model with >= 2 training records and >= 1
    evaluation record after training began, the median input std of training and evaluation
    forwards differs by >= 2x, or their medians of the input mean differ by >= 1 (larger) std.
    Random augmentation (crops, flips) moves neither that far."""

    name = "preprocessing_mismatch"
    category = "defect"
    reliability = 0.85
    evidence = {"data_preprocessing": 4.5}

    def detect(self, tv, gf):
        for node in tv.nodes("val_input_std"):
            st, ts = finite(*tv.series("input_std", node))
            _, tm = finite(*tv.series("input_mean", node))
            if min(len(ts), len(tm)) < 2:
                continue
            # evaluations once training has begun: a demo forward on a random tensor before
            # the first step is no evaluation of the data; one evaluation after training (a
            # whole test set in one step) is enough, its batch holds thousands of values
            sv, vs = finite(*tv.series("val_input_std", node))
            s, vm = finite(*tv.series("val_input_mean", node))
            vs, vm, s = vs[sv > st[0]], vm[s > st[0]], s[s > st[0]]
            if min(len(vs), len(vm)) < 1:
                continue
            a, b = float(np.median(ts)), float(np.median(vs))
            ma, mb = float(np.median(tm)), float(np.median(vm))
            if a <= 0 or b <= 0:
                continue
            ratio = max(a / b, b / a)
            shift = abs(ma - mb) / max(a, b)
            if ratio >= 2.0 or shift >= 1.0:
                return [self.hit(int(s[0]), node, round(ratio, 3),
                                 f"evaluation inputs have std {fmt(b)} and mean {fmt(mb)}, training inputs std "
                                 f"{fmt(a)} and mean {fmt(ma)}: they are preprocessed differently", 1.0,
                                 std_ratio=ratio, mean_shift=shift)]
        return []


@register
class RegressionLossOnClassIndices(Symptom):
    """A regression loss (MSE/L1/Huber) compares a classifier's C outputs with class indices:
    the output layer has C >= 3 units (C = 2 with targets of an integer dtype) and the targets
    are the integers 0..C-1 (every record's smallest and largest target an integer, the smallest
    of them 0 and the largest exactly C-1), so one index per sample is broadcast against C scores (PyTorch
    warns "Using a target size that is different to the input size") and the model learns to
    output the index's value, not a class. Issue 13's class 3 without the crash: the contract of
    the loss (its documented input and target shapes, PyTorch docs, MSELoss) is broken. Fires on
    the first record; a defect whatever the curves show."""

    name = "regression_loss_on_class_indices"
    category = "defect"
    reliability = 0.9
    evidence = {"loss_function": 4.0}

    def detect(self, tv, gf):
        lts = set(gf.loss_types())
        if not lts or not lts <= REGRESSION_LOSSES:
            return []
        c = gf.output_width()
        int_dtype = integer_targets(tv)
        # two outputs against 0/1 targets is also an autoencoder's or a 2-d regression's picture
        # of data in [0, 1]: there the targets must be of an integer dtype
        if c is None or c < 2 or (c == 2 and not int_dtype):
            return []
        s_min, tmin = finite(*tv.series("target_min"))
        _, tmax = finite(*tv.series("target_max"))
        if not len(tmin) or len(tmin) != len(tmax):
            return []
        vals = np.concatenate([tmin, tmax])
        if not (np.all(vals == np.round(vals)) and vals.min() == 0.0 and vals.max() == float(c - 1)):
            return []
        node = gf.losses[0].id if gf.losses else tv.nodes("loss")[0] if tv.nodes("loss") else None
        return [self.hit(int(s_min[0]), node, float(c),
                         f"{'/'.join(sorted(lts))} compares {c} outputs with class indices 0..{c - 1} "
                         "(one index per sample, broadcast against the scores)", 1.0, classes=c)]
