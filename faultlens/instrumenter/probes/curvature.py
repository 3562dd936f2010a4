"""Loss curvature from Hessian-vector products (only with ``--curvature``)."""
from __future__ import annotations

import collections
import math
import time
from typing import Any

import torch

from faultlens.instrumenter.probes.base import Probe, opt_params, register


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


@register
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
    order = 80
    opt_in = "curvature"       # --curvature; a number in (0, 1] there is the budget share
    own_budget = True
    uses_last_batch = True
    budget = 0.05
    min_step = 10
    first_iters = 6
    warm_iters = 3
    first_cost_steps = 16.0
    min_gap = 10          # steps between evaluations
    last_step = -10 ** 9

    def __init__(self, ctx, setting=None):
        super().__init__(ctx, setting)
        #: the share of the training time curvature may use: ``budget``, or execute(curvature=0.3)
        #: for a larger share and more evaluations
        self.share = self.budget
        if not isinstance(setting, bool) and isinstance(setting, (int, float)) and 0 < setting <= 1:
            self.share = float(setting)
        self.spent = 0.0
        self.last_cost: float | None = None
        self.vec: dict[int, list[torch.Tensor]] = {}
        self.pvec: dict[int, list[torch.Tensor]] = {}
        self.traces: collections.deque = collections.deque(maxlen=5)
        self.gen = torch.Generator().manual_seed(20240229)
        self.evals = 0
        self.hvp_cost: float | None = None   # seconds per Hessian-vector product (running mean)

    def on_opt_pre(self, ow):
        ctx = self.ctx
        batch, step = ctx.last_batch, ctx.step
        if batch is None or step < self.min_step:
            return
        elapsed = ctx.training_seconds()
        if elapsed is None or step - self.last_step < self.min_gap:
            return
        est = self.last_cost
        if est is None:  # first evaluation: ~first_cost_steps training steps
            est = self.first_cost_steps * elapsed / max(1, step)
        budget = self.share
        if self.spent + est > budget * elapsed:
            return
        self.last_step = step
        t0 = time.perf_counter()
        try:
            self._measure(ow, batch, t0 + max(est, budget * elapsed - self.spent))
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

    def _measure(self, ow, batch, deadline: float) -> None:
        put = self.ctx.put
        mw, lw = batch.model, batch.loss
        model = mw.model
        mine = {id(p) for p in model.parameters()}
        params = [p for _, _, p in opt_params(ow.opt) if p.requires_grad and id(p) in mine]
        if not params:
            return
        args, kwargs = _detach_tree(batch.inputs)
        rest, lkw = _detach_tree(batch.rest), _detach_tree(batch.kwargs)
        bufs = [(b, b.detach().clone()) for b in model.buffers()]
        t_start = time.perf_counter()
        try:
            # the recomputed forward and loss are the probe's own: not recorded, no probes
            with self.ctx.unrecorded(), torch.random.fork_rng(devices=[]), torch.enable_grad():
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
                    put("grad_curvature", node, float(_dot(g, hvp(g))) / gn2)
                lam, v, ok = self._power(hvp, ps, self.vec.get(key), fits)
                self.vec[key] = v
                sharp, limit = (lam if ok else None), None
                if ok:
                    put("lambda_max", node, lam)
                if fits():
                    z = [self._rand(p, rademacher=True) for p in ps]
                    self.traces.append(float(_dot(z, hvp(z))))
                    put("hessian_trace", node, sum(self.traces) / len(self.traces))
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
                            put("lambda_max_precond", node, plam)
                            sharp, limit = plam, (2 + 2 * b1) / (1 - b1)
                elif type(ow.opt).__name__ == "SGD":
                    mom = float(group.get("momentum", 0.0) or 0.0)
                    if group.get("nesterov"):
                        limit = (2 + 2 * mom) / (1 + 2 * mom)
                    else:
                        limit = 2.0 * (1.0 + mom)
                if lr is not None and sharp is not None:
                    put("lambda_max_lr", node, sharp * lr)
                    if limit is not None:
                        put("stability_limit", node, limit)
                self.evals += 1
        finally:
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
