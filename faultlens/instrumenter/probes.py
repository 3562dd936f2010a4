"""Probes: one small class per measured quantity (Cockpit's "one instrument = one quantity").

Each probe implements some of these hooks, called by :mod:`faultlens.instrumenter.runtime`:

``on_forward_pre(mw, args, kwargs)``   sampled training forward of a watched model (before)
``on_forward(mw, args, output)``       the same forward, after (leaf hooks already removed)
``on_loss(lw, out, args, kwargs, val)`` every loss computation (``val``: grad disabled / eval)
``on_opt_pre(ow)`` / ``on_opt_post(ow)`` every optimizer step (before / after the update)

Tiering follows the probes' measured costs (docs/instrumenter.md) and published thresholds (docs/diagnosis.md): every
step only the loss, accuracy (an argmax over the batch), the learning rate (a Python float) and
one fused gradient norm (``torch._foreach_norm``); on sampled steps (the first
``dense_steps`` and every ``sample_every``-th, default 3 and 10; a non-finite loss triggers
the next step too) activation statistics via leaf forward hooks that exist only during that
forward, per-parameter gradient/weight/update statistics, batch statistics; curvature only
with ``--curvature``, under a time budget. Statistics use the cheap reductions (mean, std,
amin/amax); non-finite counts are computed only when a mean is non-finite.

A probe never modifies tensors it reads and never draws from the global RNG.
"""
from __future__ import annotations

import collections
import math
import time
from typing import Any

import torch

from faultlens.instrumenter.callhooks import hook_call
from faultlens.taxonomy import PROBED_ACTIVATION_OPS, PROBED_RELU_LAYERS, PROBED_SATURATING_LAYERS

#: Functional ops whose effect on the preceding layer's output is measured from the graph flow,
#: with their saturation cut-offs; ReLU-like and saturating modules (faultlens.taxonomy).
ACTIVATION_OPS = PROBED_ACTIVATION_OPS
RELU_LIKE = PROBED_RELU_LAYERS
SATURATING = PROBED_SATURATING_LAYERS


def _first_tensor(x: Any) -> torch.Tensor | None:
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, (tuple, list)):
        for item in x:
            t = _first_tensor(item)
            if t is not None:
                return t
    if isinstance(x, dict):
        for item in x.values():
            t = _first_tensor(item)
            if t is not None:
                return t
    # PackedSequence and similar carry .data
    data = getattr(x, "data", None)
    if isinstance(data, torch.Tensor):
        return data
    return None


def tensor_stats(t: torch.Tensor) -> tuple[float, float, float, float, float] | None:
    """(mean, std, min, max, nonfinite count) of a tensor, one host sync."""
    if t.numel() == 0:
        return None
    t = t.detach()
    if not t.is_floating_point():
        t = t.double() if t.dtype == torch.int64 else t.float()
    elif t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()
    mean, std, mn, mx = torch.stack([t.mean(), t.std(correction=0) if t.numel() > 1 else t.new_zeros(()),
                                     t.amin(), t.amax()]).tolist()
    bad = 0.0
    if not math.isfinite(mean) or not math.isfinite(std):
        bad = float((~torch.isfinite(t)).sum())
    return mean, std, mn, mx, bad


class Probe:
    name = "probe"
    #: hook name -> "sampled" | "tier1": the runtime calls that hook only on sampled steps /
    #: tier-1 steps (saves the call and its timing on the other steps); ungated hooks run
    #: every step and decide for themselves.
    gates: dict[str, str] = {}

    def __init__(self, S: Any):
        self.S = S


# ---------------------------------------------------------------------------------- loss
class LossProbe(Probe):
    """Training loss (mean over the iteration's loss calls) and ``val_loss`` (mean over the
    batches evaluated with grad disabled during the iteration, weighted by batch size)."""

    name = "loss"

    def on_loss(self, lw, out, args, kwargs, val):
        S = self.S
        o = out.detach()
        v = float(o) if o.numel() == 1 else float(o.float().mean())
        if val:
            first = _first_tensor(args)
            w = float(first.shape[0]) if first is not None and first.dim() > 0 else 1.0
            S.mean("val_loss", lw.node, v, w)
        else:
            S.mean("loss", lw.node, v)
            if not math.isfinite(v):
                if not S.step_loss_nonfinite:
                    S.trigger_sample = True
                S.step_loss_nonfinite = True


class AccuracyProbe(Probe):
    """Batch accuracy when the loss input is class scores and the target class indices
    (or one-hot/probabilities, or binary targets for BCE-type losses)."""

    name = "accuracy"
    _int = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)

    def on_loss(self, lw, out, args, kwargs, val):
        if not val and not self.S.tier1:
            return
        if len(args) < 2:
            tgt = kwargs.get("target")
            if len(args) < 1 or tgt is None:
                return
            o = args[0]
        else:
            o, tgt = args[0], args[1]
        if not isinstance(o, torch.Tensor) or not isinstance(tgt, torch.Tensor):
            return
        acc = self.accuracy(o.detach(), tgt.detach(), lw.loss_type)
        if acc is None:
            return
        correct, n = acc
        if n == 0:
            return
        self.S.mean("val_accuracy" if val else "accuracy", lw.node, correct / n, float(n))

    def accuracy(self, o: torch.Tensor, t: torch.Tensor, loss_type: str) -> tuple[float, int] | None:
        if loss_type in ("BCEWithLogitsLoss", "BCELoss"):
            if o.numel() != t.numel() or o.numel() == 0:
                return None
            if not bool(((t == 0) | (t == 1)).all()):
                return None  # soft targets (a VAE's pixel intensities): no classes, no accuracy
            thr = 0.0 if loss_type == "BCEWithLogitsLoss" else 0.5
            pred = o.reshape(-1) > thr
            return float((pred == (t.reshape(-1) > 0.5)).sum()), o.numel()
        if loss_type in ("MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "KLDivLoss"):
            return None
        if not o.is_floating_point() or o.dim() < 2 or o.shape[1] < 2:
            return None
        if t.dtype in self._int:
            if t.dim() == o.dim() - 1 and t.shape[0] == o.shape[0] and tuple(o.shape[2:]) == tuple(t.shape[1:]):
                mask = t >= 0  # ignore_index (-100 by default) is negative
                n = int(mask.sum())
                return float(((o.argmax(1) == t) & mask).sum()), n
            return None
        if t.is_floating_point() and t.shape == o.shape and loss_type in ("CrossEntropyLoss", "cross_entropy"):
            return float((o.argmax(1) == t.argmax(1)).sum()), t.numel() // t.shape[1]
        return None


# ---------------------------------------------------------------------------------- batch
class BatchProbe(Probe):
    """Inputs of a sampled training forward and targets of its loss: range, mean, std, dtype."""

    name = "batch"
    gates = {"on_forward_pre": "sampled", "on_loss": "sampled"}

    def on_forward_pre(self, mw, args, kwargs):
        x = _first_tensor(args) if args else _first_tensor(kwargs)
        if x is None:
            return
        st = tensor_stats(x)
        if st is None:
            return
        mean, std, mn, mx, _ = st
        S = self.S
        for m, v in (("input_min", mn), ("input_max", mx), ("input_mean", mean), ("input_std", std),
                     ("input_is_float", float(x.is_floating_point()))):
            S.put(m, mw.node, v)

    def on_eval_forward_pre(self, mw, args, kwargs):
        """The same statistics of an evaluation forward's input (grad disabled), at most once per
        training step: a preprocessing that differs between training and evaluation shows."""
        x = _first_tensor(args) if args else _first_tensor(kwargs)
        if x is None or not x.is_floating_point():
            return
        st = tensor_stats(x)
        if st is None:
            return
        mean, std, _, _, _ = st
        self.S.put("val_input_mean", mw.node, mean)
        self.S.put("val_input_std", mw.node, std)

    last_target_step = -1

    def on_loss(self, lw, out, args, kwargs, val):
        S = self.S
        if val or not S.sampled or len(args) < 2 or not isinstance(args[1], torch.Tensor):
            return
        if self.last_target_step == S.step:   # several loss calls in one iteration: the first
            return
        self.last_target_step = S.step
        x = args[0]
        if isinstance(x, torch.Tensor) and x.is_floating_point():
            # what the loss itself receives (an op applied in the loop, such as log_softmax
            # on the model's output, sits between the two)
            xs = tensor_stats(x.detach())
            if xs is not None:
                S.put("loss_input_min", lw.node, xs[2])
                S.put("loss_input_max", lw.node, xs[3])
        t = args[1]
        st = tensor_stats(t)
        if st is None:
            return
        node = S.lead.node if S.lead is not None else lw.node
        mean, std, mn, mx, _ = st
        for m, v in (("target_min", mn), ("target_max", mx), ("target_mean", mean), ("target_std", std),
                     ("target_is_int", float(not t.is_floating_point() and t.dtype != torch.bool)),
                     ("target_numel", float(t.numel()))):
            S.put(m, node, v)


# ---------------------------------------------------------------------------------- activations
class ActivationProbe(Probe):
    """Per leaf layer output mean/std/min/max and non-finite count; zero fraction after
    ReLU-like layers (and for functional relu after a layer, from the graph flow); saturated
    fraction for sigmoid/tanh; the same statistics for the model's final output."""

    name = "activations"

    def on_forward_pre(self, mw, args, kwargs):
        self.seen: set[str] = set()   # a module called several times per forward: first call only
        for name, mod in mw.leaves:
            mw.act_handles.append(hook_call(self.S.call_hooks, mod, post=self._make_hook(mw, name, mod)))

    def _make_hook(self, mw, name, mod):
        node = mw.layer_node(name)
        tname = type(mod).__name__
        relu = tname in RELU_LIKE or (tname == "Threshold")
        sat = SATURATING.get(tname)
        after = mw.after_ops.get(name, ())

        def hook(module, args, output):
            if node in self.seen:
                return None
            self.seen.add(node)
            t0 = time.perf_counter()
            try:
                t = _first_tensor(output)
                if t is not None and t.is_floating_point():
                    self._record(node, t, relu, sat, after)
            except Exception as exc:  # reported like any probe error
                self.S.disable(self.name, exc)
                for h in mw.act_handles:
                    h.remove()
                mw.act_handles = []
            finally:
                dt = time.perf_counter() - t0
                self.S.probe_time += dt
                self.S.probe_seconds[self.name] = self.S.probe_seconds.get(self.name, 0.0) + dt
            return None

        return hook

    def _record(self, node, t, relu, sat, after):
        S = self.S
        st = tensor_stats(t)
        if st is None:
            return
        mean, std, mn, mx, bad = st
        S.put("act_mean", node, mean)
        S.put("act_std", node, std)
        S.put("act_min", node, mn)
        S.put("act_max", node, mx)
        S.put("act_nonfinite", node, bad)
        d = t.detach()
        n = d.numel()
        if relu:
            S.put("act_zero_frac", node, float((d == 0).sum()) / n)
        if sat == "sigmoid":
            S.put("act_sat_frac", node, float(((d < 0.01) | (d > 0.99)).sum()) / n)
        elif sat == "tanh":
            S.put("act_sat_frac", node, float((d.abs() > 0.99).sum()) / n)
        for op_node, op in after:
            if op in ("relu", "relu6"):
                S.put("act_zero_frac", op_node, float((d <= 0).sum()) / n)
            elif ACTIVATION_OPS.get(op):
                S.put("act_sat_frac", op_node, float((d.abs() > ACTIVATION_OPS[op]).sum()) / n)

    def on_forward(self, mw, args, output):
        t = _first_tensor(output)
        if t is None or not t.is_floating_point():
            return
        self._record(f"{mw.node}#output", t, False, None, ())


# ---------------------------------------------------------------------------------- gradients
def _opt_params(opt) -> list[tuple[int, int, torch.Tensor]]:
    out = []
    for gi, group in enumerate(opt.param_groups):
        for pi, p in enumerate(group["params"]):
            out.append((gi, pi, p))
    return out


class GradProbe(Probe):
    """Every step: the total gradient norm of the optimizer's parameters (one fused
    ``torch._foreach_norm``). Sampled steps: per parameter norm, zero fraction, non-finite."""

    name = "gradients"
    gates = {"on_opt_pre": "tier1"}

    def on_opt_pre(self, ow):
        S = self.S
        if not S.tier1:
            return
        items = [(gi, pi, p) for gi, pi, p in _opt_params(ow.opt) if p.grad is not None and not p.grad.is_sparse]
        if not items:
            return
        grads = [p.grad for _, _, p in items]
        vals = torch.stack(torch._foreach_norm(grads)).tolist()   # one fused op, one host sync
        div = S.amp_grad_div
        if div is not None and div[0] == id(ow.opt) and div[1] > 0:
            # a GradScaler's fused optimizer unscales inside its step: these are still scaled
            vals = [v / div[1] for v in vals]
        total = math.sqrt(sum(v * v for v in vals))
        from faultlens.instrumenter.runtime import param_node
        gnode = getattr(ow, "global_node", None)
        if gnode is None:
            gnode = ow.global_node = self._global_node(ow, items)
        S.put("grad_norm_total", gnode, total)
        if not S.sampled:
            return
        finite = math.isfinite(total)
        for (gi, pi, p), g, v in zip(items, grads, vals):
            node = param_node(S, p, ow, gi, pi)
            S.put("grad_norm", node, v)
            S.put("grad_zero_frac", node, float((g == 0).sum()) / max(1, g.numel()))
            S.put("grad_nonfinite", node, 0.0 if finite else float((~torch.isfinite(g)).sum()))

    def _global_node(self, ow, items) -> str | None:
        S = self.S
        for _, _, p in items:
            owner = S.param_owner.get(id(p))
            if owner is not None:
                return owner[0].node
        return ow.node


class WeightProbe(Probe):
    """Sampled steps: per parameter weight norm and non-finite count before the update, and
    the update ratio ||w_after - w_before|| / ||w_before|| over the optimizer step."""

    name = "weights"
    # on_opt_post stays ungated: it must consume a snapshot taken by on_opt_pre even if the
    # sampling decision changed in between (an LBFGS closure inside step())
    gates = {"on_opt_pre": "sampled"}

    def on_opt_pre(self, ow):
        S = self.S
        ow.before = None
        if not S.sampled:
            return
        items = [(gi, pi, p) for gi, pi, p in _opt_params(ow.opt)]
        if not items:
            return
        ws = [p.detach() for _, _, p in items]
        norms = torch.stack([n.float() for n in torch._foreach_norm(ws)])
        from faultlens.instrumenter.runtime import param_node
        vals = norms.tolist()
        total = float(torch.linalg.vector_norm(norms))
        finite = math.isfinite(total)
        for (gi, pi, p), w, v in zip(items, ws, vals):
            node = param_node(S, p, ow, gi, pi)
            S.put("weight_norm", node, v)
            S.put("weight_nonfinite", node, 0.0 if finite else float((~torch.isfinite(w)).sum()))
        S.put("weight_norm_total", GradProbe._global_node(self, ow, items), total)  # type: ignore[arg-type]
        ow.before = [w.clone() for w in ws]
        ow.before_params = [p for _, _, p in items]
        ow.before_norms = vals
        ow.before_total = total

    def on_opt_post(self, ow):
        S = self.S
        if ow.before is None:
            return
        before, params = ow.before, ow.before_params
        ow.before = None
        ow.before_params = None
        after = [p.detach() for p in params]
        deltas = torch._foreach_sub(after, before)
        dn = torch.stack([n.float() for n in torch._foreach_norm(deltas)])
        from faultlens.instrumenter.runtime import param_node
        items = _opt_params(ow.opt)
        for (gi, pi, p), d, w in zip(items, dn.tolist(), ow.before_norms):
            S.put("update_ratio", param_node(S, p, ow, gi, pi), d / w if w > 0 else (0.0 if d == 0 else math.inf))
        total = float(torch.linalg.vector_norm(dn))
        wt = ow.before_total
        S.put("update_ratio_total", GradProbe._global_node(self, ow, items),  # type: ignore[arg-type]
              total / wt if wt > 0 else (0.0 if total == 0 else math.inf))


# ---------------------------------------------------------------------------------- optimizer
class OptimizerProbe(Probe):
    """Every step: lr per param group and the step count. Sampled steps: momentum, betas,
    weight decay per group."""

    name = "optimizer"

    def on_opt_post(self, ow):
        S = self.S
        if ow.node is None:
            return
        row = S.writer.scalar_row
        step = S.step
        groups = ow.opt.param_groups
        keys = getattr(ow, "group_keys", None)
        if keys is None or len(keys) != len(groups) or keys[0][0] != ("opt_step", ow.node):
            # series keys built once per optimizer (every step would format the same strings)
            keys = ow.group_keys = [(("opt_step", ow.node), None)] + [
                (("lr", f"{ow.node}#g{gi}"), f"{ow.node}#g{gi}") for gi in range(len(groups))]
        row(step, keys[0][0], float(ow.steps))
        for (lr_key, gnode), group in zip(keys[1:], groups):
            lr = group.get("lr")
            if isinstance(lr, torch.Tensor):
                lr = float(lr)
            if isinstance(lr, (int, float)):
                row(step, lr_key, float(lr))
            if not S.sampled:
                continue
            mom = group.get("momentum")
            if isinstance(mom, (int, float)):
                S.put("momentum", gnode, float(mom))
            betas = group.get("betas")
            if isinstance(betas, (tuple, list)) and len(betas) == 2:
                S.put("beta1", gnode, float(betas[0]))
                S.put("beta2", gnode, float(betas[1]))
            wd = group.get("weight_decay")
            if isinstance(wd, (int, float)):
                S.put("weight_decay", gnode, float(wd))


# ---------------------------------------------------------------------------------- curvature
def _detach_tree(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.detach()
    if isinstance(x, tuple):
        return tuple(_detach_tree(i) for i in x)
    if isinstance(x, list):
        return [_detach_tree(i) for i in x]
    if isinstance(x, dict):
        return {k: _detach_tree(v) for k, v in x.items()}
    return x


def _dot(a: list[torch.Tensor], b: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack([(x * y).sum() for x, y in zip(a, b)]).sum()


class CurvatureProbe(Probe):
    """Loss curvature on the current batch (only with ``--curvature``).

    Recomputes the training loss at the current parameters from the last training batch
    (only when the loss input was the watched model's output), then with Hessian-vector
    products (double backward): lambda_max by power iteration (warm-started from the last
    eigenvector: up to 6 iterations the first time, 3 later, stopping at 1e-3 relative
    change; from a random start power iteration needs 8-12 HVPs, so the first value is rough
    and later ones sharpen as the warm start carries over); a Hutchinson trace estimate (one Rademacher probe per evaluation, reported as
    the mean of the last 5 evaluations, since one probe is 20-60% off); the directional
    sharpness g^T H g / ||g||^2; lambda_max * lr against the stability limit (2 for plain
    GD, 2(1+beta) with heavy-ball momentum, (2 + 2 beta1)/(1 - beta1) for Adam's
    preconditioned sharpness; Cohen et al. 2021/2022). For Adam/AdamW the
    preconditioned sharpness (power iteration on P^-1/2 H P^-1/2 with P = sqrt(v_hat) + eps)
    is recorded as ``lambda_max_precond`` and used for ``lambda_max_lr``.

    Cost control: an evaluation (from step ``min_step`` on) runs only when the time spent in
    curvature so far plus the expected cost (the last evaluation's, or ~16 training steps
    for the first) stays within ``budget`` (5%) of the training time so far, so the
    overhead is bounded whatever the model size; a run gets its first evaluation after
    ~200 steps and then one every ~150-200 steps. All random vectors come from a
    private ``torch.Generator``; the recomputed forward runs under ``torch.random.fork_rng``
    and every buffer (BatchNorm running statistics) is restored afterwards.
    """

    name = "curvature"
    budget = 0.05
    min_step = 10
    first_iters = 6
    warm_iters = 3
    first_cost_steps = 16.0
    min_gap = 10          # steps between evaluations
    last_step = -10 ** 9

    def __init__(self, S):
        super().__init__(S)
        self.spent = 0.0
        self.last_cost: float | None = None
        self.vec: dict[int, list[torch.Tensor]] = {}
        self.pvec: dict[int, list[torch.Tensor]] = {}
        self.traces: collections.deque = collections.deque(maxlen=5)
        self.gen = torch.Generator().manual_seed(20240229)
        self.evals = 0
        self.hvp_cost: float | None = None   # seconds per Hessian-vector product (running mean)

    def on_opt_pre(self, ow):
        S = self.S
        if not S.curvature or S.curv_ctx is None or S.step < self.min_step or S.train_t0 is None:
            return
        if S.step - self.last_step < self.min_gap:
            return
        elapsed = time.perf_counter() - S.train_t0
        est = self.last_cost
        if est is None:  # first evaluation: ~first_cost_steps training steps
            est = self.first_cost_steps * elapsed / max(1, S.step)
        budget = self.budget
        if not isinstance(S.curvature, bool) and isinstance(S.curvature, (int, float)) and 0 < S.curvature <= 1:
            budget = float(S.curvature)  # execute(curvature=0.3): a larger share for more evaluations
        if self.spent + est > budget * elapsed:
            return
        self.last_step = S.step
        t0 = time.perf_counter()
        try:
            self._measure(ow, S.curv_ctx, t0 + max(est, budget * elapsed - self.spent))
        finally:
            cost = time.perf_counter() - t0
            self.spent += cost
            self.last_cost = cost

    def _rand(self, p: torch.Tensor, rademacher: bool = False) -> torch.Tensor:
        if rademacher:
            r = torch.randint(0, 2, p.shape, generator=self.gen).to(p.dtype) * 2 - 1
        else:
            r = torch.randn(p.shape, generator=self.gen, dtype=p.dtype)
        return r.to(p.device)

    def _measure(self, ow, ctx, deadline: float) -> None:
        S = self.S
        mw, lw = ctx["model"], ctx["loss"]
        model = mw.model
        mine = {id(p) for p in model.parameters()}
        params = [p for _, _, p in _opt_params(ow.opt) if p.requires_grad and id(p) in mine]
        if not params:
            return
        args, kwargs = _detach_tree(ctx["inputs"])
        rest, lkw = _detach_tree(ctx["rest"]), _detach_tree(ctx["kwargs"])
        bufs = [(b, b.detach().clone()) for b in model.buffers()]
        t_start = time.perf_counter()
        S.suspended += 1
        try:
            with torch.random.fork_rng(devices=[]), torch.enable_grad():
                out = model(*args, **kwargs)
                loss = lw.fn(out, *rest, **lkw)
                if loss.numel() != 1:
                    loss = loss.mean()
                grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
                keep = [(p, g) for p, g in zip(params, grads) if g is not None and g.requires_grad]
                if not keep:
                    return
                ps = [p for p, _ in keep]
                gs = [g for _, g in keep]

                t_grad = time.perf_counter() - t_start

                def hvp(vs: list[torch.Tensor]) -> list[torch.Tensor]:
                    t = time.perf_counter()
                    hv = torch.autograd.grad(gs, ps, grad_outputs=vs, retain_graph=True, allow_unused=True)
                    out = [torch.zeros_like(p) if h is None else h.detach() for p, h in zip(ps, hv)]
                    dt = time.perf_counter() - t
                    self.hvp_cost = dt if self.hvp_cost is None else 0.5 * (self.hvp_cost + dt)
                    return out

                def fits() -> bool:  # one more HVP fits before the deadline
                    pred = self.hvp_cost if self.hvp_cost is not None else 1.5 * t_grad
                    return time.perf_counter() + pred <= deadline

                key = id(ow.opt)
                node = mw.node
                group = ow.opt.param_groups[0]
                lr = group.get("lr")
                lr = float(lr) if isinstance(lr, (int, float, torch.Tensor)) else None
                # directional sharpness first (one HVP), then the power iteration, then
                # Hutchinson, each only while the evaluation is within its time allowance
                g = [x.detach() for x in gs]
                gn2 = float(_dot(g, g))
                if gn2 > 0 and (self.hvp_cost is None or fits()):
                    S.put("grad_curvature", node, float(_dot(g, hvp(g))) / gn2)
                lam, v, ok = self._power(hvp, ps, self.vec.get(key), fits)
                self.vec[key] = v
                sharp, limit = (lam if ok else None), None
                if ok:
                    S.put("lambda_max", node, lam)
                if fits():
                    z = [self._rand(p, rademacher=True) for p in ps]
                    self.traces.append(float(_dot(z, hvp(z))))
                    S.put("hessian_trace", node, sum(self.traces) / len(self.traces))
                betas = group.get("betas")
                state_sq = [ow.opt.state.get(p, {}).get("exp_avg_sq") for p in ps]
                if isinstance(betas, (tuple, list)) and all(isinstance(s, torch.Tensor) for s in state_sq):
                    sharp = None
                    b1, b2 = float(betas[0]), float(betas[1])
                    st = ow.opt.state.get(ps[0], {}).get("step", 0)
                    t = float(st) if not isinstance(st, torch.Tensor) else float(st.item())
                    if t > 0 and fits():
                        eps = float(group.get("eps", 1e-8))
                        d = [((s / (1 - b2 ** t)).sqrt() + eps).rsqrt() for s in state_sq]

                        def phvp(vs):
                            hv = hvp([di * vi for di, vi in zip(d, vs)])
                            return [di * hi for di, hi in zip(d, hv)]

                        plam, pv, pok = self._power(phvp, ps, self.pvec.get(key), fits)
                        self.pvec[key] = pv
                        if pok:
                            S.put("lambda_max_precond", node, plam)
                            sharp, limit = plam, (2 + 2 * b1) / (1 - b1)
                elif type(ow.opt).__name__ == "SGD":
                    mom = float(group.get("momentum", 0.0) or 0.0)
                    if group.get("nesterov"):
                        limit = (2 + 2 * mom) / (1 + 2 * mom)
                    else:
                        limit = 2.0 * (1.0 + mom)
                if lr is not None and sharp is not None:
                    S.put("lambda_max_lr", node, sharp * lr)
                    if limit is not None:
                        S.put("stability_limit", node, limit)
                self.evals += 1
        finally:
            S.suspended -= 1
            with torch.no_grad():
                for b, saved in bufs:
                    b.copy_(saved)

    def _power(self, op, ps, start, fits):
        """Power iteration; returns (lambda, vector, trustworthy). Stops at convergence,
        after the iteration budget or at the deadline; an estimate counts when it had two
        iterations, or one from a warm start (the vector carries over between evaluations)."""
        warm = start is not None and len(start) == len(ps)
        v = start if warm else [self._rand(p) for p in ps]
        iters = self.warm_iters if warm else self.first_iters
        nrm = float(_dot(v, v)) ** 0.5 or 1.0
        v = [x / nrm for x in v]
        lam, prev, done = 0.0, None, 0
        for _ in range(iters):
            if not fits():
                break
            hv = op(v)
            lam = float(_dot(v, hv))
            done += 1
            n = float(_dot(hv, hv)) ** 0.5
            if n == 0 or not math.isfinite(n):
                break
            v = [h / n for h in hv]
            if prev is not None and abs(lam - prev) <= 1e-3 * abs(lam):
                break
            prev = lam
        return lam, v, math.isfinite(lam) and (done >= 2 or (warm and done >= 1))


#: The registry: every run gets one instance of each.
PROBES: tuple[type[Probe], ...] = (
    LossProbe, AccuracyProbe, BatchProbe, ActivationProbe, GradProbe, WeightProbe,
    OptimizerProbe, CurvatureProbe,
)


def make_probes(S: Any) -> list[Probe]:
    return [cls(S) for cls in PROBES if cls is not CurvatureProbe or S.curvature]
