"""Features of one run: ``extract(trace, graph) -> dict[str, float]``.

Every feature name is ``<group>.<name>``; the groups (documented in docs/models.md) are

``loss``    loss-curve shape: relative change, normalised slopes, oscillation, spikes,
            first non-finite step as a fraction of the run, initial loss / log(classes)
``grad``    gradient norms: log-scales, growth ratios, first/last layer ratio (AUTOTRAINER's
            vanishing/exploding test), zero-gradient fractions
``act``     activations: dead (zero) and saturated fractions, output range, non-finite counts
``weight``  weights and updates: update/weight ratio (TheDeepChecker's log10 in [-4, -1]),
            weight-norm growth, non-finite weights
``opt``     optimizer state: log10 lr, momentum, weight decay, steps taken per iteration
``curv``    curvature: lambda_max * lr against the optimizer's stability limit, trace,
            directional sharpness (Cohen et al. 2021 "edge of stability")
``event``   training-step event order: zero_grad/backward/step per iteration, order
            violations, evaluation forwards in train mode
``data``    batch statistics: input range and scale, target kind
``static``  facts from the program graph: layer/activation counts, output activation, loss and
            optimizer kinds, static lr/batch/epochs, calls present

All values are program-independent where possible: ratios, slopes normalised by the first
loss, log-scales, fractions of the number of steps — absolute magnitudes of one program do
not transfer to another (DynFault's leave-program-out gap). Missing information is NaN
(the classifiers handle NaN natively); never a guess.
"""
from __future__ import annotations

import bisect
import math
from typing import Any

import numpy as np

from faultlens.models.classifier import clip_feature
from faultlens.taxonomy import ACTIVATION_LAYERS, ACTIVATION_OPS, CRASH_KINDS, LOSS_KINDS, NONLINEAR_LAYERS, NONLINEAR_OPS
from faultlens.taxonomy import FEATURE_OPTIMIZERS as OPT_KINDS, REFERENCE_LR as DEFAULT_LR
from faultlens.taxonomy import WEIGHT_LAYERS as WEIGHT_TYPES

GROUPS = ("loss", "grad", "act", "weight", "opt", "curv", "event", "data", "static")
NAN = float("nan")



def _f(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return NAN
    return v


def _log10(x: Any, floor: float = 1e-12) -> float:
    v = _f(x)
    if not math.isfinite(v):
        return NAN
    return math.log10(max(abs(v), floor))


def _best_series(trace, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """The series of ``metric`` with the most points (a model may have several nodes)."""
    best = (np.zeros(0, dtype=np.int64), np.zeros(0))
    for m, n in trace.data:
        if m == metric:
            s = trace.data[(m, n)]
            if len(s[0]) > len(best[0]):
                best = s
    return best


def _per_node(trace, metric: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {n: v for (m, n), v in trace.data.items() if m == metric}


def _finite(v: np.ndarray) -> np.ndarray:
    return v[np.isfinite(v)]


def _slope(y: np.ndarray) -> float:
    if len(y) < 2:
        return NAN
    x = np.linspace(0.0, 1.0, len(y))
    try:
        return float(np.polyfit(x, y, 1)[0])
    except (np.linalg.LinAlgError, ValueError):
        return NAN


def _n_steps(trace) -> int:
    try:
        return max(int(trace.steps), 1)
    except Exception:  # noqa: BLE001
        return 1


# ----------------------------------------------------------------------------- loss
def loss_features(trace) -> dict[str, float]:
    steps, vals = _best_series(trace, "loss")
    n = _n_steps(trace)
    out: dict[str, float] = {}
    out["loss.n_points"] = float(len(vals))
    if len(vals) == 0:
        return out
    nonfin = ~np.isfinite(vals)
    out["loss.nonfinite"] = float(nonfin.any())
    out["loss.first_nonfinite_frac"] = float(steps[np.argmax(nonfin)] / n) if nonfin.any() else 1.0
    v = vals[~nonfin]
    if len(v) == 0:
        return out
    first = float(np.mean(v[: max(1, len(v) // 10)]))
    last = float(np.mean(v[-max(1, len(v) // 10):]))
    scale = abs(first) + 1e-8
    out["loss.first_log10"] = _log10(first)
    out["loss.last_over_first"] = float(np.clip(last / scale, -1e3, 1e3)) if first != 0 else NAN
    out["loss.log_ratio"] = float(np.log10((abs(last) + 1e-8) / scale))
    out["loss.min_over_first"] = float(np.clip(np.min(v) / scale, -1e3, 1e3))
    out["loss.negative"] = float((v < 0).any())
    vn = v / scale
    k = max(2, len(vn) * 3 // 10)
    out["loss.slope_early"] = _slope(vn[:k])
    out["loss.slope_late"] = _slope(vn[-k:])
    out["loss.slope_all"] = _slope(vn)
    d = np.diff(vn)
    if len(d):
        out["loss.frac_increasing"] = float(np.mean(d > 0))
        signs = np.sign(d[d != 0])
        out["loss.sign_changes"] = float(np.mean(signs[1:] != signs[:-1])) if len(signs) > 1 else 0.0
        # AUTOTRAINER oscillation: relative swings >= 0.03 of the first loss
        out["loss.big_swings"] = float(np.mean(np.abs(d) >= 0.03))
        out["loss.max_jump"] = float(np.clip(np.max(d), -1e3, 1e3))
    tail = vn[-k:]
    out["loss.tail_cv"] = float(np.std(tail) / (abs(np.mean(tail)) + 1e-8))
    run_min = np.minimum.accumulate(v)
    out["loss.spikes"] = float(np.mean(v > 2.0 * np.abs(run_min) + 1e-8))
    # where the loss stops improving, as a fraction of the run
    best = int(np.argmin(v))
    out["loss.argmin_frac"] = float(steps[~nonfin][best] / n) if len(steps) else NAN
    # accuracy curve
    _, acc = _best_series(trace, "accuracy")
    acc = _finite(acc)
    if len(acc):
        out["loss.acc_first"] = float(np.mean(acc[: max(1, len(acc) // 10)]))
        out["loss.acc_last"] = float(np.mean(acc[-max(1, len(acc) // 10):]))
        out["loss.acc_gain"] = out["loss.acc_last"] - out["loss.acc_first"]
        out["loss.acc_max_change"] = float(np.max(np.abs(np.diff(acc)))) if len(acc) > 1 else 0.0
    _, vl = _best_series(trace, "val_loss")
    vl = _finite(vl)
    if len(vl):
        out["loss.val_over_train"] = float(np.clip(vl[-1] / (abs(last) + 1e-8), -1e3, 1e3))
    _, va = _best_series(trace, "val_accuracy")
    va = _finite(va)
    if len(va) and len(acc):
        out["loss.train_val_acc_gap"] = float(acc[-1] - va[-1])
    return out


# ----------------------------------------------------------------------------- gradients
def _layer_order(graph) -> dict[str, int]:
    """Layer id -> position in forward order (first layer 0)."""
    order: dict[str, int] = {}
    if graph is None:
        return order
    try:
        classes = graph.nodes("module_class")
        k = 0
        for mc in classes:
            for item in graph.flow(mc.id):
                if item.kind == "layer" and item.id not in order:
                    order[item.id] = k
                    k += 1
        for lay in graph.nodes("layer"):
            if lay.id not in order:
                order[lay.id] = k
                k += 1
    except Exception:  # noqa: BLE001 - a partial graph
        pass
    return order


def _weight_nodes_in_order(trace, graph, metric: str) -> list[str]:
    nodes = [n for n in _per_node(trace, metric) if n and n.endswith("#weight")]
    order = _layer_order(graph)
    return sorted(nodes, key=lambda n: (order.get(n.split("#")[0], 10 ** 6), n))


def grad_features(trace, graph) -> dict[str, float]:
    out: dict[str, float] = {}
    n = _n_steps(trace)
    _, g = _best_series(trace, "grad_norm_total")
    if len(g):
        nonfin = ~np.isfinite(g)
        out["grad.nonfinite"] = float(nonfin.any())
        gs, _ = _best_series(trace, "grad_norm_total")
        out["grad.first_nonfinite_frac"] = float(gs[np.argmax(nonfin)] / n) if nonfin.any() else 1.0
        gf = g[~nonfin]
        if len(gf):
            out["grad.total_median_log10"] = _log10(np.median(gf))
            out["grad.total_first_log10"] = _log10(gf[0])
            out["grad.total_growth_log10"] = _log10(np.mean(gf[-max(1, len(gf) // 5):])) - _log10(
                np.mean(gf[: max(1, len(gf) // 5)]))
            out["grad.total_max_over_median"] = _log10(np.max(gf)) - _log10(np.median(gf))
            out["grad.total_zero_frac"] = float(np.mean(gf == 0))
            out["grad.total_cv"] = float(np.std(gf) / (np.mean(gf) + 1e-12))
    ws = _weight_nodes_in_order(trace, graph, "grad_norm")
    if len(ws) >= 2:
        first = _finite(trace.data[("grad_norm", ws[0])][1])
        last = _finite(trace.data[("grad_norm", ws[-1])][1])
        if len(first) and len(last):
            out["grad.first_last_ratio_log10"] = _log10(np.median(first)) - _log10(np.median(last))
            out["grad.first_layer_log10"] = _log10(np.median(first))
    per_layer = [_finite(v) for (m, nd), (_, v) in trace.data.items() if m == "grad_norm"]
    per_layer = [p for p in per_layer if len(p)]
    if per_layer:
        meds = np.array([_log10(np.median(p)) for p in per_layer])
        out["grad.layer_spread_log10"] = float(np.nanmax(meds) - np.nanmin(meds))
    zf = [_finite(v) for (m, _), (_, v) in trace.data.items() if m == "grad_zero_frac"]
    zf = [z for z in zf if len(z)]
    if zf:
        out["grad.zero_frac_max"] = float(max(np.mean(z) for z in zf))
        out["grad.zero_frac_mean"] = float(np.mean([np.mean(z) for z in zf]))
    gn = [v for (m, _), (_, v) in trace.data.items() if m == "grad_nonfinite"]
    if gn:
        out["grad.layer_nonfinite"] = float(any(np.nansum(v) > 0 for v in gn))
    return out


# ----------------------------------------------------------------------------- activations
def act_features(trace, graph) -> dict[str, float]:
    out: dict[str, float] = {}
    out_nodes = [nd for (m, nd) in trace.data if m == "act_mean" and nd and nd.endswith("#output")]
    hidden = [nd for (m, nd) in trace.data if m == "act_mean" and nd and not nd.endswith("#output")]

    def series_mean(metric: str, nodes: list[str]) -> list[float]:
        vals = []
        for nd in nodes:
            v = _finite(trace.data.get((metric, nd), (None, np.zeros(0)))[1])
            if len(v):
                vals.append(float(np.mean(v)))
        return vals

    zf = series_mean("act_zero_frac", hidden)
    if zf:
        out["act.zero_frac_max"] = max(zf)
        out["act.zero_frac_mean"] = float(np.mean(zf))
        out["act.dead_layers_frac"] = float(np.mean(np.array(zf) > 0.7))  # DeepDiagnosis: > 70%
    sf = series_mean("act_sat_frac", hidden)
    if sf:
        out["act.sat_frac_max"] = max(sf)
        out["act.sat_frac_mean"] = float(np.mean(sf))
    sd = series_mean("act_std", hidden)
    if sd:
        logs = [_log10(s) for s in sd]
        out["act.std_log10_min"] = float(np.nanmin(logs))
        out["act.std_log10_max"] = float(np.nanmax(logs))
        # TheDeepChecker: activation std outside [0.5, 2]
        out["act.std_out_of_range_frac"] = float(np.mean([(s < 0.5 or s > 2.0) for s in sd]))
    nf = [v for (m, nd), (_, v) in trace.data.items() if m == "act_nonfinite"]
    if nf:
        out["act.nonfinite"] = float(any(np.nansum(v) > 0 for v in nf))
    if out_nodes:
        nd = out_nodes[0]
        mn = _finite(trace.data.get(("act_min", nd), (None, np.zeros(0)))[1])
        mx = _finite(trace.data.get(("act_max", nd), (None, np.zeros(0)))[1])
        st = _finite(trace.data.get(("act_std", nd), (None, np.zeros(0)))[1])
        mean = _finite(trace.data.get(("act_mean", nd), (None, np.zeros(0)))[1])
        if len(mn) and len(mx):
            out["act.out_nonneg"] = float(np.min(mn) >= 0)
            out["act.out_in_unit"] = float(np.min(mn) >= 0 and np.max(mx) <= 1.0)
            out["act.out_range_log10"] = _log10(np.median(mx - mn))
            out["act.out_absmax_log10"] = _log10(max(abs(np.max(mx)), abs(np.min(mn))))
        if len(st):
            out["act.out_std_log10"] = _log10(np.median(st))
            out["act.out_std_growth_log10"] = _log10(st[-1]) - _log10(st[0])
        if len(mean) and len(st):
            out["act.out_mean_over_std"] = float(np.clip(np.median(mean) / (np.median(st) + 1e-8), -1e3, 1e3))
        zo = _finite(trace.data.get(("act_zero_frac", nd), (None, np.zeros(0)))[1])
        if len(zo):
            out["act.out_zero_frac"] = float(np.mean(zo))
        so = _finite(trace.data.get(("act_sat_frac", nd), (None, np.zeros(0)))[1])
        if len(so):
            out["act.out_sat_frac"] = float(np.mean(so))
    return out


# ----------------------------------------------------------------------------- weights
def weight_features(trace, graph) -> dict[str, float]:
    out: dict[str, float] = {}
    _, ur = _best_series(trace, "update_ratio_total")
    ur = _finite(ur)
    if len(ur):
        lr_ = np.array([_log10(u) for u in ur])
        out["weight.update_ratio_median_log10"] = float(np.nanmedian(lr_))
        out["weight.update_ratio_first_log10"] = float(lr_[0])
        out["weight.update_ratio_last_log10"] = float(np.nanmedian(lr_[-max(1, len(lr_) // 5):]))
        # TheDeepChecker: log10(update/param) outside [-4, -1]
        out["weight.update_ratio_out_of_range"] = float(np.mean((lr_ < -4) | (lr_ > -1)))
        out["weight.update_zero_frac"] = float(np.mean(ur == 0))
    _, wn = _best_series(trace, "weight_norm_total")
    if len(wn):
        out["weight.nonfinite"] = float((~np.isfinite(wn)).any())
        wf = _finite(wn)
        if len(wf):
            out["weight.norm_growth_log10"] = _log10(wf[-1]) - _log10(wf[0])
            out["weight.norm_max_growth_log10"] = _log10(np.max(wf)) - _log10(wf[0])
    ws = _weight_nodes_in_order(trace, graph, "weight_norm")
    if ws:
        firsts = []
        for nd in ws:
            v = _finite(trace.data[("weight_norm", nd)][1])
            if len(v):
                firsts.append(_log10(v[0]))
        if firsts:
            out["weight.layer_norm_spread_log10"] = float(np.nanmax(firsts) - np.nanmin(firsts))
            out["weight.first_layer_norm_log10"] = float(firsts[0])
    per = [_finite(v) for (m, _), (_, v) in trace.data.items() if m == "update_ratio"]
    per = [p for p in per if len(p)]
    if per:
        meds = [_log10(np.median(p)) for p in per]
        out["weight.layer_update_spread_log10"] = float(np.nanmax(meds) - np.nanmin(meds))
        out["weight.layer_update_min_log10"] = float(np.nanmin(meds))
    return out


# ----------------------------------------------------------------------------- optimizer
def opt_features(trace, graph) -> dict[str, float]:
    out: dict[str, float] = {}
    n = _n_steps(trace)
    for metric in ("lr", "momentum", "beta1", "weight_decay"):
        _, v = _best_series(trace, metric)
        v = _finite(v)
        if len(v):
            if metric in ("lr", "weight_decay"):
                out[f"opt.{metric}_log10"] = _log10(v[0], floor=1e-10) if v[0] != 0 else -10.0
            else:
                out[f"opt.{metric}"] = float(v[0])
            if metric == "lr":
                out["opt.lr_decay_log10"] = _log10(v[-1], 1e-10) - _log10(v[0], 1e-10) if v[0] else 0.0
    s, v = _best_series(trace, "opt_step")
    if len(v):
        out["opt.steps_per_iter"] = float(np.nanmax(v) / n) if np.isfinite(np.nanmax(v)) else NAN
    return out


# ----------------------------------------------------------------------------- curvature
def curv_features(trace, graph) -> dict[str, float]:
    out: dict[str, float] = {}
    _, lm = _best_series(trace, "lambda_max")
    lm = _finite(lm)
    if len(lm):
        out["curv.lambda_max_log10"] = _log10(np.median(lm))
        out["curv.lambda_max_growth_log10"] = _log10(lm[-1]) - _log10(lm[0])
    _, lml = _best_series(trace, "lambda_max_lr")
    _, lim = _best_series(trace, "stability_limit")
    lml, lim = _finite(lml), _finite(lim)
    if len(lml):
        out["curv.lambda_lr_log10"] = _log10(np.median(lml))
        if len(lim):
            ratio = np.median(lml) / (np.median(lim) + 1e-12)
            out["curv.stability_ratio"] = float(np.clip(ratio, 0, 1e3))
            out["curv.above_limit_frac"] = float(np.mean(lml[: len(lim)] > lim[: len(lml)]))
    _, ht = _best_series(trace, "hessian_trace")
    ht = _finite(ht)
    if len(ht):
        out["curv.trace_log10"] = _log10(np.median(ht))
        out["curv.trace_negative"] = float(np.median(ht) < 0)
    _, gc = _best_series(trace, "grad_curvature")
    gc = _finite(gc)
    if len(gc):
        out["curv.grad_curvature_log10"] = _log10(np.median(gc))
        out["curv.grad_curvature_negative_frac"] = float(np.mean(gc < 0))
        if len(lm):
            out["curv.grad_curv_over_lambda"] = float(np.clip(np.median(gc) / (np.median(lm) + 1e-12), -1e3, 1e3))
    return out


# ----------------------------------------------------------------------------- events
def event_features(trace) -> dict[str, float]:
    out: dict[str, float] = {}
    evs = trace.events
    if not evs:
        return out
    by_step: dict[int, list] = {}
    for e in evs:
        by_step.setdefault(e.step, []).append(e)
    train_steps = [s for s, es in by_step.items() if any(e.event == "forward" for e in es)]
    ns = max(len(train_steps), 1)

    def frac(name: str) -> float:
        return sum(1 for s in train_steps if any(e.event == name for e in by_step[s])) / ns

    for name in ("zero_grad", "backward", "step", "clip", "loss"):
        out[f"event.{name}_frac"] = frac(name)
    # zero_grad after backward and before step in the same iteration wipes the gradient
    bad_order = 0
    late_zero = 0
    for s in train_steps:
        seq = [e.event for e in sorted(by_step[s], key=lambda e: e.seq)]
        if "backward" in seq and "step" in seq:
            b, st = seq.index("backward"), seq.index("step")
            if any(x == "zero_grad" for x in seq[b:st]):
                bad_order += 1
            if st < b:
                late_zero += 1
    out["event.zero_between_backward_step_frac"] = bad_order / ns
    out["event.step_before_backward_frac"] = late_zero / ns
    fwd = [e for e in evs if e.event == "forward"]
    out["event.forwards_per_iter"] = len(fwd) / ns
    ev_fw = [e for e in evs if e.event == "eval_forward"]
    out["event.has_eval_forward"] = float(bool(ev_fw))
    if ev_fw:
        out["event.eval_forward_in_train_mode_frac"] = float(np.mean([bool(e.training) for e in ev_fw
                                                                      if e.training is not None] or [NAN]))
    out["event.eval_calls"] = float(sum(1 for e in evs if e.event == "eval") > 0)
    out["event.sched_step_frac"] = frac("sched_step")
    # epochs the run went through and training steps per epoch (1: the whole set in one batch)
    epoch_steps = sorted({e.step for e in evs if e.event == "epoch"})
    if epoch_steps:
        out["event.epochs_log2"] = math.log2(len(epoch_steps))
        bounds = epoch_steps + [max(train_steps, default=epoch_steps[-1]) + 1]
        ordered = sorted(train_steps)
        # training steps in [a, b) for each epoch, by bisection (a loop labelled as the epoch loop
        # may have one "epoch" per step: counting by scanning was quadratic in the run's length)
        per = [bisect.bisect_left(ordered, b) - bisect.bisect_left(ordered, a) for a, b in zip(bounds, bounds[1:])]
        per = [p for p in per if p > 0]
        if per:
            out["event.steps_per_epoch_log2"] = math.log2(float(np.median(per)))
    return out


# ----------------------------------------------------------------------------- crashes
CRASH_TYPES = ("RuntimeError", "ValueError", "TypeError", "IndexError", "AssertionError")
CRASH_PLACES = ("layer", "loss", "call", "dataloader", "optimizer", "model", "op")
#: words of an exception message that say what broke, whatever the program
CRASH_WORDS = {"target": ("target", "label"), "shape": ("shape", "size", "dimension", "dim "),
               "dtype": ("dtype", "type ", "float", "long", "scalar type"), "index": ("index", "bound"),
               "nonfinite": ("nan", "inf"), "input": ("input",), "grad": ("grad",)}


def crash_features(trace) -> dict[str, float]:
    """What a crash was, in program-independent terms: its kind (the instrumenter's
    classification), exception class, where it was raised (the kind of graph node of the
    statement, inside a layer or not), when (log2 of 1 + the step; -1 before training), and which
    words its message uses. All zero for a run that did not crash."""
    crash = getattr(trace, "crash", None) or {}
    out: dict[str, float] = {"event.crashed_in_layer": float(bool(crash.get("layer")))}
    kind = str(crash.get("kind") or "")
    for k in CRASH_KINDS:
        out[f"event.crash_kind_{k}"] = float(kind == k)
    etype = str(crash.get("type") or "")
    for t in CRASH_TYPES:
        out[f"event.crash_type_{t}"] = float(etype == t)
    place = str(crash.get("node") or "").split(":", 1)[0]
    for pl in CRASH_PLACES:
        out[f"event.crash_at_{pl}"] = float(bool(crash) and place == pl)
    msg = str(crash.get("message") or "").lower()
    for w, keys in CRASH_WORDS.items():
        out[f"event.crash_says_{w}"] = float(bool(crash) and any(k in msg for k in keys))
    if crash:
        step = crash.get("step")
        # -1: raised before the first training step (e.g. while building the optimizer)
        out["event.crash_step_log2"] = math.log2(1 + max(int(step), 0)) if isinstance(step, (int, float)) else -1.0
    return out


# ----------------------------------------------------------------------------- data
def data_features(trace) -> dict[str, float]:
    out: dict[str, float] = {}

    def med(metric: str) -> float:
        _, v = _best_series(trace, metric)
        v = _finite(v)
        return float(np.median(v)) if len(v) else NAN

    imin, imax, imean, istd = med("input_min"), med("input_max"), med("input_mean"), med("input_std")
    if math.isfinite(imax):
        out["data.input_absmax_log10"] = _log10(max(abs(imin), abs(imax)))
        out["data.input_outside_unit"] = float(max(abs(imin), abs(imax)) > 1.0 + 1e-6)  # UMLAUT/DeepDiagnosis
    if math.isfinite(istd):
        out["data.input_std_log10"] = _log10(istd)
        if math.isfinite(imean):
            out["data.input_mean_over_std"] = float(np.clip(imean / (istd + 1e-8), -1e3, 1e3))
    out["data.input_is_float"] = med("input_is_float")
    out["data.target_is_int"] = med("target_is_int")
    tstd = med("target_std")
    if math.isfinite(tstd):
        out["data.target_std_log10"] = _log10(tstd)
    tmin, tmax = med("target_min"), med("target_max")
    if math.isfinite(tmax):
        out["data.target_range_log10"] = _log10(tmax - tmin)
    # class balance of integer targets, on the scale of their range: a uniform spread of classes
    # sits mid-range with std ~ range/sqrt(12); a set missing most of some classes does not
    tmean = med("target_mean")
    if math.isfinite(tmax) and tmax > tmin and math.isfinite(tmean) and out.get("data.target_is_int") == 1.0:
        out["data.target_mean_pos"] = float((tmean - tmin) / (tmax - tmin))
        if math.isfinite(tstd):
            out["data.target_std_over_range"] = float(tstd / (tmax - tmin))
    # batch-to-batch variability of the target mean (shuffled / noisy labels keep it, deleted data changes it)
    _, tm = _best_series(trace, "target_mean")
    tm = _finite(tm)
    if len(tm) > 2 and math.isfinite(tstd):
        out["data.target_mean_cv"] = float(np.std(tm) / (tstd + 1e-8))
    return out


# ----------------------------------------------------------------------------- static
def static_features(graph) -> dict[str, float]:
    out: dict[str, float] = {}
    if graph is None:
        return out
    try:
        layers = graph.nodes("layer")
        ops = graph.nodes("op")
    except Exception:  # noqa: BLE001
        return out
    weights = [n for n in layers if n.attrs.get("layer_type") in ("Linear", "Conv1d", "Conv2d", "Conv3d")]
    acts = [n for n in layers if n.attrs.get("layer_type") in ACTIVATION_LAYERS] + \
           [n for n in ops if n.attrs.get("op") in ACTIVATION_OPS]
    out["static.n_weight_layers"] = float(len(weights))
    out["static.acts_per_weight_layer"] = len(acts) / max(len(weights), 1)
    act_kinds = [str(n.attrs.get("layer_type") or n.attrs.get("op") or "").lower() for n in acts]
    for k in ("relu", "sigmoid", "tanh", "softmax", "log_softmax"):
        out[f"static.act_{k}"] = float(sum(1 for a in act_kinds if a.replace("logsoftmax", "log_softmax") == k)
                                       / max(len(weights), 1))
    drops = [n for n in layers if str(n.attrs.get("layer_type", "")).startswith("Dropout")]
    ps = [(n.attrs.get("args") or {}).get("p", (n.attrs.get("args") or {}).get("0", 0.5)) for n in drops]
    ps = [p for p in ps if isinstance(p, (int, float))]
    out["static.dropout_max"] = float(max(ps)) if ps else 0.0
    # the output activation: the last item of the forward flow of the model's class
    last_kind = "none"
    try:
        for mc in graph.nodes("module_class"):
            seq = graph.flow(mc.id)
            if seq:
                last = seq[-1]
                last_kind = str(last.attrs.get("layer_type") or last.attrs.get("op") or "none").lower()
    except Exception:  # noqa: BLE001
        pass
    for k in ("sigmoid", "softmax", "log_softmax", "relu", "tanh"):
        out[f"static.output_{k}"] = float(last_kind.replace("logsoftmax", "log_softmax") == k)
    lk = _loss_kinds(graph)
    for k in ("ce", "nll", "mse", "l1", "bce", "bce_logits", "other"):
        out[f"static.loss_{k}"] = float(k in lk)
    opts = graph.nodes("optimizer")
    ok = {str(n.attrs.get("optimizer_type")) for n in opts}
    for k in OPT_KINDS:
        out[f"static.opt_{k.lower()}"] = float(k in ok)
    out["static.manual_update"] = float(not opts)
    for n in opts:
        args = n.attrs.get("args") or {}
        lr = args.get("lr", args.get("1"))
        if isinstance(lr, (int, float)) and not isinstance(lr, bool):
            out["static.lr_log10"] = _log10(lr)
        wd = args.get("weight_decay")
        out["static.weight_decay_log10"] = _log10(wd, 1e-10) if isinstance(wd, (int, float)) and wd else -10.0
        mom = args.get("momentum")
        out["static.momentum"] = float(mom) if isinstance(mom, (int, float)) else 0.0
        break
    for h in graph.nodes("hyperparameter"):
        hp, val = h.attrs.get("hp"), h.attrs.get("value")
        if not isinstance(val, (int, float)) or isinstance(val, bool):
            continue
        if hp == "batch_size":
            out["static.batch_size_log2"] = math.log2(max(val, 1))
        elif hp == "epochs":
            out["static.epochs_log2"] = math.log2(max(val, 1))
        elif hp in ("lr", "learning_rate") and "static.lr_log10" not in out:
            out["static.lr_log10"] = _log10(val)
    for d in graph.nodes("dataloader"):
        bs = d.attrs.get("batch_size")
        if isinstance(bs, (int, float)) and not isinstance(bs, bool):
            out["static.batch_size_log2"] = math.log2(max(bs, 1))
    calls = graph.nodes("call")
    methods = {str(c.attrs.get("method")) for c in calls}
    # (the presence of a clip call or of an init call says nothing by itself — healthy programs
    # clip and initialise — so those are left to the dynamic features; see DROPPED_FEATURES)
    for m in ("zero_grad", "step", "eval", "train", "backward"):
        out[f"static.has_{m}"] = float(m in methods)
    out["static.n_transform"] = float(len(graph.nodes("transform")))
    # softmax applied to what a CrossEntropyLoss receives
    # what the loss receives: activations wrapped around the prediction in the loss call itself
    fed = _loss_input_acts(graph)
    out["static.loss_input_acts"] = float(len(fed))
    out["static.loss_input_unexpected"] = float(any(not (EXPECTED_BY_LOSS.get(a, set()) & lk) for a in fed))
    out["static.softmax_then_ce"] = float(bool((out.get("static.output_softmax", 0) or "softmax" in fed)
                                               and "ce" in lk))
    return out


#: output activations a loss kind expects on its prediction (any other one is a mismatch)
EXPECTED_BY_LOSS = {"sigmoid": {"bce", "mse"}, "log_softmax": {"nll"}}


def _loss_kinds(graph) -> set[str]:
    """The kinds (LOSS_KINDS values, ``other`` for the rest) of the program's losses."""
    return {LOSS_KINDS.get(str(n.attrs.get("loss_type")), "other") for n in graph.nodes("loss")}


def _loss_input_acts(graph) -> set[str]:
    """Activation functions applied to the prediction inside the loss call
    (``loss_fn(torch.softmax(model(x), 1), y)``), as lower-case names."""
    import ast

    found: set[str] = set()
    calls = [c for c in graph.nodes("call") if c.attrs.get("method") == "loss"]
    calls += [n for n in graph.nodes("loss") if n.attrs.get("functional")]
    for c in calls:
        inputs = c.attrs.get("inputs") or []
        if not inputs or not isinstance(inputs[0], str):
            continue
        try:
            tree = ast.parse(inputs[0], mode="eval")
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
                if name.lower() in ACTIVATION_OPS:
                    found.add(name.lower())
    return found


# ----------------------------------------------------------------------------- static: structure
# WEIGHT_TYPES, NONLINEAR_LAYERS, DEFAULT_LR (lr / default compares programs on one scale):
# faultlens.taxonomy


def _kind(item) -> str:
    return str(item.attrs.get("layer_type") or item.attrs.get("op") or "")


def _is_act(item) -> bool:
    k = _kind(item)
    return k in ACTIVATION_LAYERS or k.lower() in ACTIVATION_OPS


def _model_sequences(graph) -> list[list]:
    """Forward sequences of the program's networks, repeats kept (one activation module
    applied after every layer appears each time): each module class's and each
    ``nn.Sequential`` model's ``forward`` items, with sub-module classes expanded in place."""
    seqs: list[list] = []

    def expand(ids, depth: int) -> list:
        out = []
        for i in ids:
            try:
                n = graph.node(i)
            except Exception:  # noqa: BLE001 - an id the graph no longer has
                continue
            ref = n.attrs.get("class_ref")
            sub = graph.node(ref).attrs.get("forward") if ref and ref in graph and depth < 5 else None
            out.extend(expand(sub, depth + 1) if sub else [n])
        return out

    try:
        for kind in ("module_class", "model"):
            for owner in graph.nodes(kind):
                fw = owner.attrs.get("forward")
                if fw:
                    seq = [n for n in expand(fw, 0) if n.kind in ("layer", "op")]
                    if seq:
                        seqs.append(seq)
    except Exception:  # noqa: BLE001 - a partial graph
        pass
    return seqs


def _main_sequence(graph) -> list:
    """The forward sequence of the program's largest network (most weight layers), or []."""
    seqs = [s for s in _model_sequences(graph) if any(_kind(i) in WEIGHT_TYPES for i in s)]
    return max(seqs, key=lambda s: sum(1 for i in s if _kind(i) in WEIGHT_TYPES)) if seqs else []


def _width(layer, end: int) -> float:
    args = layer.attrs.get("args") or {}
    names = (("in_features", "in_channels", "0"), ("out_features", "out_channels", "1"))[end]
    for n in names:
        v = args.get(n)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
            return float(v)
    return NAN


def narrowest_hidden_layer(graph, first: bool = False) -> tuple[Any, float, float] | None:
    """(layer node, its output width, the output layer's width) for the narrowest hidden weight
    layer of the main network (``first``: the first hidden one), or None."""
    seq = _main_sequence(graph) if graph is not None else []
    w = [i for i in seq if _kind(i) in WEIGHT_TYPES]
    if len(w) < 2:
        return None
    n_out = _width(w[-1], 1)
    hidden = [(i, _width(i, 1)) for i in w[:-1]]
    hidden = [(i, x) for i, x in hidden if math.isfinite(x)]
    if not hidden or not math.isfinite(n_out):
        return None
    layer, width = hidden[0] if first else min(hidden, key=lambda t: t[1])
    return layer, width, n_out


def structure_features(graph) -> dict[str, float]:
    """Scale-free facts about the network's structure: chains of weight layers with nothing
    nonlinear between them (they collapse into one linear map), activations stacked on
    activations, one hidden activation unlike the others, activations after the output layer
    that the loss does not expect, and bottlenecks (a hidden width far below the others or
    below the number of outputs)."""
    out: dict[str, float] = {}
    seq = _main_sequence(graph)
    if not seq:
        return out
    w_idx = [k for k, i in enumerate(seq) if _kind(i) in WEIGHT_TYPES]
    pairs = list(zip(w_idx, w_idx[1:]))
    if pairs:
        linear = sum(1 for a, b in pairs if not any(_kind(i) in NONLINEAR_LAYERS or _is_act(i)
                                                    or _kind(i).lower() in NONLINEAR_OPS for i in seq[a + 1:b]))
        out["static.linear_chain_frac"] = linear / len(pairs)
    acts = [k for k, i in enumerate(seq) if _is_act(i)]
    if acts:
        stacked = sum(1 for a, b in zip(acts, acts[1:]) if not any(_kind(i) in WEIGHT_TYPES for i in seq[a + 1:b]))
        out["static.stacked_act_frac"] = stacked / len(acts)
    # layers built without a bias (usual only right before a normalisation layer)
    weights = [seq[k] for k in w_idx]
    out["static.no_bias_frac"] = float(np.mean([(w.attrs.get("args") or {}).get("bias") is False for w in weights]))
    norms = [i for i in seq if _kind(i).startswith(("BatchNorm", "LayerNorm", "GroupNorm", "InstanceNorm"))]
    out["static.norm_per_weight_layer"] = len(norms) / len(w_idx)
    last_w = w_idx[-1]
    hidden = [_kind(seq[k]).lower() for k in acts if k < last_w]
    if hidden:
        top = max(set(hidden), key=hidden.count)
        out["static.hidden_act_kinds"] = float(len(set(hidden)))
        out["static.hidden_act_minority_frac"] = 1.0 - hidden.count(top) / len(hidden)
        out["static.hidden_act_bounded_frac"] = float(np.mean([h in ("sigmoid", "tanh", "hardtanh", "softmax")
                                                              for h in hidden]))
    tail = [_kind(seq[k]).lower().replace("logsoftmax", "log_softmax") for k in acts if k > last_w]
    losses = _loss_kinds(graph)
    out["static.output_acts"] = float(len(tail))
    out["static.output_act_unexpected"] = float(any(not (EXPECTED_BY_LOSS.get(t, set()) & losses) for t in tail))
    widths = [_width(seq[k], 1) for k in w_idx[:-1]]
    widths = [w for w in widths if math.isfinite(w)]
    n_out = _width(seq[last_w], 1)
    if widths:
        out["static.min_hidden_width_log2"] = math.log2(min(widths))
        out["static.bottleneck_log2"] = math.log2(min(widths) / float(np.median(widths)))
        if math.isfinite(n_out):
            out["static.min_width_over_outputs_log2"] = math.log2(min(widths) / n_out)
    if math.isfinite(n_out):
        out["static.n_outputs_log2"] = math.log2(n_out)
    return out


def _n_classes(graph) -> float:
    """Number of classes a CrossEntropy/NLL model predicts (its output layer's width), else NaN."""
    if graph is None:
        return NAN
    try:
        if not _loss_kinds(graph) & {"ce", "nll"}:
            return NAN
        seq = _main_sequence(graph)
        if not seq:
            return NAN
        last = [i for i in seq if _kind(i) in WEIGHT_TYPES][-1]
        c = _width(last, 1)
        return c if math.isfinite(c) and c >= 2 else NAN
    except Exception:  # noqa: BLE001
        return NAN


def relative_features(trace, graph) -> dict[str, float]:
    """Loss and accuracy on the scale of the task (chance level ``1/C`` and the loss of a uniform
    guess ``ln C`` for a C-class model), the learning rate on the scale of its optimizer's
    default, and the validation curve's late trend: numbers that mean the same in every program."""
    out: dict[str, float] = {}
    c = _n_classes(graph)
    if math.isfinite(c):
        _, v = _best_series(trace, "loss")
        v = _finite(v)
        if len(v):
            k = max(1, len(v) // 10)
            out["loss.first_over_uniform"] = float(np.clip(np.mean(v[:k]) / math.log(c), -1e3, 1e3))
            out["loss.last_over_uniform"] = float(np.clip(np.mean(v[-k:]) / math.log(c), -1e3, 1e3))
        _, acc = _best_series(trace, "accuracy")
        acc = _finite(acc)
        if len(acc):
            k = max(1, len(acc) // 10)
            chance = 1.0 / c
            out["loss.acc_last_over_chance"] = float((np.mean(acc[-k:]) - chance) / (1.0 - chance))
            out["loss.acc_max_over_chance"] = float((np.max(acc) - chance) / (1.0 - chance))
    _, vl = _best_series(trace, "val_loss")
    vl = _finite(vl)
    if len(vl) >= 3:
        scale = abs(float(vl[0])) + 1e-8
        k = max(2, len(vl) * 3 // 10)
        out["loss.val_slope_late"] = _slope(vl[-k:] / scale)
        out["loss.val_argmin_frac"] = float(np.argmin(vl) / (len(vl) - 1))
        out["loss.val_last_over_min"] = float(np.clip(vl[-1] / (np.min(vl) + 1e-8), -1e3, 1e3))
    if graph is not None:
        try:
            opts = graph.nodes("optimizer")
        except Exception:  # noqa: BLE001
            opts = []
        _, lr = _best_series(trace, "lr")
        lr = _finite(lr)
        kind = str(opts[0].attrs.get("optimizer_type")) if opts else ""
        if kind in DEFAULT_LR and len(lr) and lr[0] > 0:
            out["opt.lr_over_default_log10"] = math.log10(lr[0] / DEFAULT_LR[kind])
    return out


#: Names an older version of this module produced that the models must not use: presence
#: facts that, in a mutation corpus, would only say "this line was injected".
DROPPED_FEATURES = frozenset({"static.n_init", "static.has_clip_grad_norm_"})


def extract(trace, graph=None) -> dict[str, float]:
    """All feature groups of one run (``trace``: faultlens Trace; ``graph``: ProgramGraph or None)."""
    feats: dict[str, float] = {}
    feats.update(loss_features(trace))
    feats.update(grad_features(trace, graph))
    feats.update(act_features(trace, graph))
    feats.update(weight_features(trace, graph))
    feats.update(opt_features(trace, graph))
    feats.update(curv_features(trace, graph))
    feats.update(event_features(trace))
    feats.update(crash_features(trace))
    feats.update(data_features(trace))
    feats.update(static_features(graph))
    if graph is not None:
        feats.update(structure_features(graph))
    feats.update(relative_features(trace, graph))
    status = str(getattr(trace, "status", "") or "")
    feats["loss.crashed"] = float(status == "crashed")
    return {k: (clip_feature(float(v)) if v is not None and np.isfinite(v) else NAN) for k, v in feats.items()}


def group_of(name: str) -> str:
    return name.split(".", 1)[0]
