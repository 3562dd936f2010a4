"""The runtime an instrumented program imports as ``__faultlens__``.

The rewritten program calls a few short functions right after the statements that create
the objects of interest (``watch_model``, ``watch_optimizer``, ``watch_loss``,
``watch_loader``, ``watch_scheduler``), wraps functional loss calls
(``call_loss(F.cross_entropy, out, y, node=...)``) and epoch loops (``epochs(range(n),
node=...)``). Everything else is observed through PyTorch hooks:

* a forward pre-hook and a forward hook on each watched *top-level* model (one module: the
  sub-modules keep PyTorch's hook-free fast path); leaf-layer forward hooks are installed
  only on sampled steps and removed right after that forward;
* a forward hook on each watched loss module;
* global optimizer step pre/post hooks (``register_optimizer_step_pre_hook``);
* thin wrappers, installed while a run is active and removed by :func:`reset`, around
  ``torch.autograd.backward``, ``Optimizer.zero_grad``, ``Module.zero_grad``,
  ``Module.train`` (``eval`` calls it), ``clip_grad_norm_``/``clip_grad_value_`` and the
  ``step`` of watched schedulers' classes.

One run's state is a :class:`RunState`, held in the module global ``_S`` (the hooks are
module functions that torch calls); :func:`state` returns it. The records of watched objects
are :mod:`faultlens.instrumenter.watchers`. What is measured is done by the probe classes of
:mod:`faultlens.instrumenter.probes`, which see the run only through a
:class:`~faultlens.instrumenter.context.ProbeContext`; this module owns the step counter, the
events and the budgets. Probes never consume random numbers, never write to gradients,
parameters or buffers (curvature restores buffers and runs under ``torch.random.fork_rng``),
so a seeded program trains bit-identically with and without them. A probe that raises is
disabled and reported once in ``meta.probe_errors``.

When no run is configured (the rewritten file executed with plain ``python``) every function
here is a no-op that returns its first argument.
"""
from __future__ import annotations

import functools
import os
import sys
import time
import traceback
from typing import Any, Callable, Iterable

import torch

from faultlens.instrumenter.callhooks import CALL_MARK, hook_call
from faultlens.instrumenter.context import ProbeContext
from faultlens.instrumenter.probes import Probe, make_probes
from faultlens.instrumenter.store import TraceWriter
from faultlens.instrumenter.watchers import AmpWatch, LastBatch, LossWatch, ModelWatch, OptWatch, module_map
from faultlens.taxonomy import TRACED_FUNCTIONAL_LOSSES


class StopRun(BaseException):
    """Raised from a hook to end the program cleanly (budget spent or outcome certain).

    A ``BaseException`` so that the program's own ``except Exception`` does not swallow it.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


#: Early stop: this many consecutive iterations with a non-finite training loss make the
#: outcome certain (a NaN/Inf loss does not recover under plain optimizers; the parameters
#: are already non-finite after the first such update in nearly every case).
NONFINITE_STOP_STEPS = 3

#: Mixed precision: a GradScaler that skipped this many consecutive optimizer steps has
#: collapsed. Each skipped step halves the scale (``backoff_factor`` 0.5, torch.amp docs), so
#: 16 halvings take the default ``init_scale`` 2**16 down to 1, below which the GradScaler.update
#: docs say "something is likely wrong"; a healthy fp16 start skips only the few steps that
#: bring the scale into range. The ``amp_scale_collapse`` symptom uses the same two bounds, so
#: once the run reaches it the symptom has fired and cannot un-fire (the settled early stop).
AMP_COLLAPSE_RUN = 16
AMP_MIN_SCALE = 1.0

#: How long the end of a run waits for a worker process still running (it stops at the same
#: deadline as the run, so only its last step and the closing of its shard are left)
CHILD_GRACE_SECONDS = 5.0

#: Fraction of the training time the detailed (sampled) probes may use: a sampled step is
#: postponed while the probes' total time exceeds it. Chosen so the whole instrumentation
#: stays near the 5% overhead target (benchmarks/overhead.py) with room for the every-step
#: probes and the fixed hook machinery (lowered from 1.5% / 2.5% when the machinery measured
#: ~5% on 1.4 ms steps; docs/instrumenter.md has the figures).
PROBE_BUDGET = 0.01
#: The every-step probes that cost a few tensor ops (accuracy, fused gradient norm) skip a
#: step while the probes' total time exceeds this fraction of the training time.
TIER1_BUDGET = 0.02
#: ... except within the run's first this many seconds of probe time: a small model's steps
#: take tens of microseconds, so 2% of its training time buys a handful of records (three
#: batch-1 accuracy records in a 460-step run), too few to judge anything. 0.04 s buys a few
#: hundred tier-1 steps; on benchmarks/overhead.py's sub-second programs it raised the probes'
#: own share of training from 2.0% to 4.4-6.5% (0.1 s: 6-9%)
TIER1_FLOOR_SECONDS = 0.04

#: Reasons (``meta.stop_reason``) that map to status ``cut_short``.
#: ``settled``: the early stop (default on, ``--no-early-stop`` turns it off) ended a run whose
#: diagnosis could no longer change; ``meta.settled`` says by which rule ({rule, step,
#: since_step, why}). ``nonfinite_loss`` is the name older traces give the same stop.
STOP_REASONS = ("max_steps", "max_seconds", "max_seconds_hard", "settled", "nonfinite_loss", "nonfinite_params")

#: a probe hook table entry: (probe, its bound hook, whether its time counts toward the
#: shared probe budget)
_Entry = tuple[Probe, Callable[..., Any], bool]


class RunState:
    """Everything one run keeps (one per process; ``configure`` makes it, ``reset`` drops it)."""

    # ---- configuration
    writer: TraceWriter
    graph: Any                        # the ProgramGraph, or None
    program: str | None
    max_steps: int | None
    max_seconds: float | None
    early_stop: bool
    sample_every: int
    dense_steps: int                  # the first steps that are always sampled
    deterministic: bool               # --seed: sampling depends on the step count only
    probe_budget: float               # share of the training time the sampled probes may use
    # ---- the step clock
    t0: float                         # perf_counter at configure
    train_t0: float | None            # perf_counter at the first training forward
    step: int
    seq: int                          # event sequence number (the whole run)
    started: bool                     # a training forward (or step/backward) happened
    dirty: bool                       # a backward/step happened in the current iteration
    fwd_since_step: bool              # a watched training forward since the last optimizer step
    batch_loops: int                  # batch loops (``iterations``) being iterated now
    sampled: bool                     # the detailed probes run on this step
    tier1: bool                       # the every-step tensor probes run on this step
    trigger_sample: bool              # a probe asked for the next step to be sampled
    last_sampled: int
    suspended: int                    # >0 while a probe runs forwards of its own
    last_training_mode: bool | None   # train/eval mode of the last watched forward
    # ---- watched objects (faultlens.instrumenter.watchers)
    models: dict[int, ModelWatch]
    lead: ModelWatch | None           # the model whose training forward opens an iteration
    optimizers: dict[int, OptWatch]
    any_opt_known: bool               # an optimizer was watched or stepped
    losses: dict[Any, LossWatch]  # id(fn), or ("hand", node) for record_loss
    backward_loss: LossWatch          # the loss of a hand-written ``.backward()``
    loaders: dict[int, str]
    schedulers: dict[int, str]
    param_owner: dict[int, tuple[ModelWatch, str]]   # id(parameter) -> (model, dotted name)
    fed_loss: set[str]                # model nodes whose output was a loss input
    keep_last_batch: bool             # a probe uses ``last_batch``
    last_batch: LastBatch | None
    # ---- the loss of the current iteration
    loss_seen: bool                   # a training loss was recorded in the current iteration
    acc: dict[tuple[str, str | None], list[float]]   # per-step means: (metric, node) -> [sum, weight]
    pending: list["_Pending"]         # ambiguous loss calls of this iteration
    redirect: "_Pending | None"       # where mean() goes while such a call's probes run
    step_loss_nonfinite: bool
    nonfinite_loss_streak: int
    # ---- mixed precision
    amp: AmpWatch | None              # a GradScaler stepped
    amp_scaled: tuple[Any, Any] | None   # (scaled loss, loss) of the last scaler.scale
    amp_grad_div: tuple[int, float] | None   # (id(opt), scale): its grads still scaled
    # ---- hooks and patches
    handles: list[Any]
    patches: list[tuple[Any, str, Any]]
    #: id(module) -> (pre hooks, post hooks), run by the patched ``nn.Module.__call__``
    call_hooks: dict[int, tuple[list[Callable[..., Any]], list[Callable[..., Any]]]]
    # ---- probes
    ctx: ProbeContext
    probes: list[Probe]
    hook_table: dict[str, tuple[list[_Entry], list[_Entry], list[_Entry]]]
    disabled: set[str]
    probe_errors: list[dict[str, Any]]
    probe_time: float                 # seconds in probes that share the budget
    probe_seconds: dict[str, float]   # seconds per probe

    def __init__(self, *, trace_path: str, graph: Any = None, program: str | None = None,
                 max_steps: int | None = None, max_seconds: float | None = None,
                 curvature: bool | float = False, early_stop: bool = True, sample_every: int = 10,
                 dense_steps: int = 3, meta: dict[str, Any] | None = None, deterministic: bool = False):
        self.writer = TraceWriter(trace_path)
        self._event_row = self.writer.event_row
        self._scalar_row = self.writer.scalar_row
        self.graph = graph
        self.program = program
        self.functions_seen: set[type] = set()   # autograd Function classes applied so far
        self.max_steps = max_steps
        self.max_seconds = max_seconds
        self.early_stop = early_stop
        self.sample_every = max(1, int(sample_every))
        self.dense_steps = dense_steps
        self.deterministic = deterministic
        self.probe_budget = PROBE_BUDGET
        self.t0 = time.perf_counter()
        self.train_t0 = None
        self.step = 0
        self.closure_evals = 0            # closure evaluations after the first of a step call
        self.children = []                # processes started with a wrapped target (workers.py)
        self.child_config = None          # what a child needs to record (set by runner.execute)
        self.seq = 0
        self.started = False
        self.dirty = False
        self.fwd_since_step = False
        self.batch_loops = 0
        self.sampled = True
        self.tier1 = True
        self.trigger_sample = False
        self.last_sampled = 0
        self.suspended = 0
        self.last_training_mode = None
        self.models = {}
        self.lead = None
        self.optimizers = {}
        self.any_opt_known = False
        self.losses = {}
        # the loss of an iteration is whatever .backward() is called on: a hand-written loss
        # (no criterion module or functional loss call) is recorded from the backward call
        self.backward_loss = LossWatch(None, "loss", "backward")
        self.loaders = {}
        self.schedulers = {}
        self.param_owner = {}
        self.fed_loss = set()
        self.last_batch = None
        self.loss_seen = False
        self.acc = {}
        self.pending = []
        self.redirect = None
        self.step_loss_nonfinite = False
        self.nonfinite_loss_streak = 0
        self.amp = None
        self.amp_scaled = None
        self.amp_grad_div = None
        self.handles = []
        self.patches = []
        self.call_hooks = {}
        self.hook_table = {}
        self.disabled = set()
        self.probe_errors = []
        self.probe_time = 0.0
        self.probe_seconds = {}
        self.ctx = ProbeContext(self)
        self.probes = make_probes(self.ctx, {"curvature": curvature})
        self.keep_last_batch = any(p.uses_last_batch for p in self.probes)
        meta = dict(meta or {})
        meta.update(program=program, status="running", started=time.time(),
                    torch_version=torch.__version__, device="cpu", probe_errors=[],
                    probes=[p.name for p in self.probes], sample_every=self.sample_every,
                    curvature=bool(curvature), deterministic=bool(deterministic))
        self.writer.set_meta(**meta)
        self.writer.flush()

    # ---------------------------------------------------------------- recording
    def event(self, name: str, node: str | None, training: bool | None = None,
              grad: bool | None = None) -> None:
        # every-step path: one tuple appended to the writer's buffer (bools bind as SQLite
        # integers, so no conversion is needed; callers pass bool or None)
        self.seq += 1
        self._event_row((self.step, self.seq, name, node, training,
                         _grad_enabled() if grad is None else grad))

    def put(self, metric: str, node: str | None, value: float) -> None:
        """Record ``value`` at the current step; a value with no node is not recorded."""
        if node is None:  # nothing the graph knows: not recorded
            return
        self.writer.scalar(self.step, metric, node, value)

    def put_key(self, key: tuple[str, str | None], value: float) -> None:
        """:meth:`put` with a prebuilt ``(metric, node)`` key and a float value (per-step path)."""
        self._scalar_row(self.step, key, value)

    def mean(self, metric: str, node: str | None, value: float, weight: float = 1.0) -> None:
        """Accumulate a per-step mean (loss over several loss calls, val over batches)."""
        if self.redirect is not None:
            self.redirect.items.append((metric, node, value, weight))
            return
        a = self.acc.get((metric, node))
        if a is None:
            self.acc[(metric, node)] = [value * weight, weight]
        else:
            a[0] += value * weight
            a[1] += weight

    def flush_step(self) -> None:
        pending, self.pending = self.pending, []
        for p in pending:
            for metric, node, value, weight in p.items:
                if not p.used:
                    metric = _VAL_NAME.get(metric, metric)
                self.mean(metric, node, value, weight)
        for (metric, node), (s, w) in self.acc.items():
            if w > 0:
                self.writer.scalar(self.step, metric, node, s / w)
        self.acc.clear()

    # ---------------------------------------------------------------- probes
    def _hooks(self, hook: str) -> tuple[list[_Entry], list[_Entry], list[_Entry]]:
        """The probes implementing ``hook``, split by their ``gates`` (see
        :class:`faultlens.instrumenter.probes.Probe`): run every step, only on tier-1 steps,
        only on sampled steps. Disabled probes are left out (the table is rebuilt on disable)."""
        every: list[_Entry] = []
        tier1: list[_Entry] = []
        sampled: list[_Entry] = []
        for p in self.probes:
            fn = getattr(p, hook, None)
            if fn is None or p.name in self.disabled:
                continue
            gate = p.gates.get(hook)
            (sampled if gate == "sampled" else tier1 if gate == "tier1" else every).append(
                (p, fn, not p.own_budget))
        lists = self.hook_table[hook] = (every, tier1, sampled)
        return lists

    def run_probes(self, hook: str, *args: Any) -> None:
        lists = self.hook_table.get(hook)
        if lists is None:
            lists = self._hooks(hook)
        every, tier1, sampled = lists
        if self.sampled:
            if tier1 or sampled:
                every = every + tier1 + sampled
        elif self.tier1 and tier1:
            every = every + tier1
        if not every:
            return
        pc = time.perf_counter
        ps = self.probe_seconds
        t = pc()
        for p, fn, shared in every:
            try:
                fn(*args)
            except StopRun:
                raise
            except Exception as exc:  # a probe must never break the program
                self.disable(p.name, exc)
            t1 = pc()
            dt = t1 - t
            t = t1
            name = p.name
            ps[name] = ps.get(name, 0.0) + dt
            if shared:
                self.probe_time += dt

    def charge(self, probe: Probe, dt: float) -> None:
        """Count ``dt`` seconds spent by ``probe`` outside :meth:`run_probes` (a layer hook)."""
        self.probe_seconds[probe.name] = self.probe_seconds.get(probe.name, 0.0) + dt
        if not probe.own_budget:
            self.probe_time += dt

    def disable(self, name: str, exc: BaseException) -> None:
        if name in self.disabled:
            return
        self.disabled.add(name)
        self.hook_table.clear()
        tb = traceback.extract_tb(exc.__traceback__)
        where = f"{tb[-1].filename}:{tb[-1].lineno}" if tb else ""
        self.probe_errors.append({"probe": name, "step": self.step, "error": f"{type(exc).__name__}: {exc}",
                                  "where": where})
        self.writer.set_meta(probe_errors=self.probe_errors)
        print(f"faultlens: probe {name!r} failed and is disabled: {type(exc).__name__}: {exc}",
              file=sys.stderr)

    # ---------------------------------------------------------------- steps
    def is_sampled(self, step: int) -> bool:
        """Detailed probes for ``step``? The first ``dense_steps`` always; later every
        ``sample_every``-th step, postponed while the probes' time so far exceeds
        ``probe_budget`` of the training time (so small, fast models keep a bounded overhead)."""
        if step < self.dense_steps:
            return True
        if step - self.last_sampled < self.sample_every:
            return False
        if self.train_t0 is not None and not self.deterministic:
            if self.probe_time > self.probe_budget * (time.perf_counter() - self.train_t0):
                return False
        return True

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def start_training(self) -> bool:
        """Mark the first training call (forward, backward, step, recorded loss): training has
        started and its clock (``train_t0``, the probes' time budget) runs from now. True when
        it had started already."""
        if self.started:
            return True
        self.started = True
        self.train_t0 = time.perf_counter()
        return False

    def raw_iteration(self) -> None:
        """With no watched model or optimizer (raw tensors, hand-written updates), each
        ``backward`` -- or each hand-derived loss (``record_loss``) -- opens an iteration: the
        first starts training, each later one after training work closes the previous one."""
        if self.lead is None and not self.any_opt_known and self.start_training() and self.dirty:
            self.advance()

    def advance(self) -> None:
        """Close the current iteration and open the next (called at the lead model's
        training forward after a backward/step)."""
        self.flush_step()
        self.dirty = False
        self.loss_seen = False
        self.nonfinite_loss_streak = self.nonfinite_loss_streak + 1 if self.step_loss_nonfinite else 0
        self.step_loss_nonfinite = False
        if self.early_stop:
            self.settle_check()
        nxt = self.step + 1
        if self.max_steps is not None and nxt >= self.max_steps:
            raise StopRun("max_steps")
        if self.max_seconds is not None and self.elapsed() >= self.max_seconds:
            raise StopRun("max_seconds")
        self.step = nxt
        self.sampled = self.is_sampled(nxt) or self.trigger_sample
        if self.sampled:
            self.last_sampled = nxt
        self.tier1 = self.sampled or self.train_t0 is None or self.deterministic or (
            self.probe_time <= max(TIER1_FLOOR_SECONDS, TIER1_BUDGET * (time.perf_counter() - self.train_t0)))
        self.trigger_sample = False
        w = self.writer
        if w.flush_due(nxt):
            w.set_meta(steps=nxt)
            w.flush(nxt)

    def settle_check(self) -> None:
        """The early stop: end the run (``StopRun("settled")``) once its diagnosis cannot change.
        Two rules, each the point where a failure symptom has fired for good: the training loss
        non-finite for NONFINITE_STOP_STEPS consecutive iterations (``nan_or_inf`` fires on the
        first; a NaN/Inf loss does not recover under plain optimizers), and a GradScaler that
        skipped AMP_COLLAPSE_RUN consecutive steps (``amp_scale_collapse``). A run that looks
        healthy is never stopped early."""
        if self.nonfinite_loss_streak >= NONFINITE_STOP_STEPS:
            k = self.step - self.nonfinite_loss_streak + 1
            self._settle("nonfinite_loss", k, f"non-finite loss since step {k}")
        a = self.amp
        if a is not None and a.streak >= AMP_COLLAPSE_RUN and a.streak_from is not None:
            self._settle("amp_scale_collapse", a.streak_from,
                         f"GradScaler skipped every optimizer step since step {a.streak_from}, "
                         f"scale down to {a.last_scale:.3g}")

    def _settle(self, rule: str, since: int, why: str) -> None:
        self.writer.set_meta(settled={"rule": rule, "step": self.step, "since_step": since, "why": why})
        raise StopRun("settled")

    def mark_dirty(self) -> None:
        self.dirty = True
        if self.max_seconds is not None and self.started and self.elapsed() >= self.max_seconds:
            # no more forwards may come (last epoch); stop here if the time is gone
            self.flush_step()
            raise StopRun("max_seconds")

    def steps_done(self) -> int:
        return self.step + 1 if self.started else 0

    # ---------------------------------------------------------------- finishing
    def finish(self, status: str, crash: dict[str, Any] | None = None,
               stop_reason: str | None = None, returncode: int | None = None) -> dict[str, Any]:
        try:
            self.flush_step()
        except Exception:  # pragma: no cover
            pass
        processes = workers = None
        if self.children:
            from faultlens.instrumenter import workers
            for rec in self.children:
                if not rec.done:
                    # a child stops at the same deadline: give it a moment to close its shard
                    workers.settle(rec, CHILD_GRACE_SECONDS)
                    workers.merge_child(self, rec)
            worst, processes = workers.outcome(self)
            if worst is not None and status == "finished":
                # the training ran in the child: its crash or its stop is the run's
                status, stop_reason = worst["status"], worst.get("stop_reason")
                crash = crash or worst.get("crash")
                if worst.get("settled"):
                    self.writer.set_meta(settled=worst["settled"])
        meta = {
            "status": status, "finished": time.time(), "steps": self.steps_done(),
            "seconds": round(self.elapsed(), 4), "probe_errors": self.probe_errors,
            "probe_seconds": {k: round(v, 4) for k, v in sorted(self.probe_seconds.items())},
            "training_seconds": None if self.train_t0 is None else round(time.perf_counter() - self.train_t0, 4),
            "crash": crash, "stop_reason": stop_reason, "returncode": returncode,
            "amp": None if self.amp is None else self.amp.to_meta(),
            "closure_evaluations": self.closure_evals,
            "processes": processes,
            "watched": {
                "models": [m.node for m in self.models.values()],
                "optimizers": [o.node for o in self.optimizers.values() if o.node],
                "losses": [l.node for l in self.losses.values()],
                "loaders": list(self.loaders.values()),
                "schedulers": list(self.schedulers.values()),
            },
        }
        if workers is not None:
            meta["watched"] = workers.with_children_watched(self, meta["watched"])
        self.writer.set_meta(**meta)
        self.writer.close()
        return meta


_S: RunState | None = None
_grad_enabled = torch.is_grad_enabled
_INHERITED = object()
_VAL_NAME = {"loss": "val_loss", "accuracy": "val_accuracy"}


def active() -> bool:
    return _S is not None


def state() -> RunState | None:
    return _S


# ====================================================================== configuration
def configure(*, trace_path: str, graph: Any = None, program: str | None = None,
              max_steps: int | None = None, max_seconds: float | None = None,
              curvature: bool = False, early_stop: bool = True, sample_every: int = 10,
              meta: dict[str, Any] | None = None, deterministic: bool = False) -> RunState:
    """Start recording a run into ``trace_path`` (one run at a time per process).
    ``deterministic`` (``--seed``): which steps get the probes depends on the step count only,
    never on how long the probes took, so a seeded run records the same trace every time."""
    global _S
    if _S is not None:
        reset()
    _S = RunState(trace_path=trace_path, graph=graph, program=program, max_steps=max_steps,
                  max_seconds=max_seconds, curvature=curvature, early_stop=early_stop,
                  sample_every=sample_every, meta=meta, deterministic=deterministic)
    _install_global_hooks(_S)
    from faultlens.integrations import install as _install_integrations
    _install_integrations(_S)  # Lightning / HF Trainer callbacks (faultlens/integrations), imports nothing
    return _S


def finish(status: str, crash: dict[str, Any] | None = None, stop_reason: str | None = None,
           returncode: int | None = None) -> dict[str, Any]:
    """Write the final meta, close the trace; the runtime stays installed until reset()."""
    if _S is None:
        return {}
    return _S.finish(status, crash=crash, stop_reason=stop_reason, returncode=returncode)


def _detach() -> RunState | None:
    """Take every hook and wrapper off and forget the current run; returns its state."""
    global _S
    S, _S = _S, None
    if S is None:
        return None
    for mw in S.models.values():
        _remove_act_hooks(mw)
        for h in mw.handles:
            h.remove()
    for h in S.handles:
        try:
            h.remove()
        except Exception:  # pragma: no cover
            pass
    for obj, name, orig in reversed(S.patches):
        if orig is _INHERITED:
            delattr(obj, name)
        else:
            setattr(obj, name, orig)
    return S


def reset() -> None:
    """Remove every hook and wrapper and forget all watched objects."""
    S = _detach()
    if S is not None and not S.writer.closed:
        S.writer.close()


def abandon() -> RunState | None:
    """Forget the current run without touching its trace (a forked child's inherited copy of
    the parent's run): its hooks and wrappers come off in this process only; the returned
    state must be kept referenced, its writer never closed (workers.py)."""
    S = _detach()
    if S is not None:
        S.writer.closed = True  # nothing of it is flushed from here
    return S


def _patch(S: RunState, obj: Any, name: str, make: Callable[[Any], Any]) -> None:
    own = name in getattr(obj, "__dict__", {})
    orig = obj.__dict__[name] if own else None
    new = make(getattr(obj, name))
    try:
        new.__wrapped__ = orig
        new.__name__ = getattr(orig, "__name__", name)
        new.__doc__ = getattr(orig, "__doc__", None)
    except (AttributeError, TypeError):  # pragma: no cover
        pass
    setattr(obj, name, new)
    S.patches.append((obj, name, orig if own else _INHERITED))


def _install_function_check(S: RunState) -> None:
    """Wrap ``torch.autograd.Function.apply``: the first application of each custom Function the
    program defines (a graph ``function`` node of role ``autograd_function``) goes to the
    probes' ``on_function_apply`` hook (the hand-written backward is checked there)."""
    raw = torch.autograd.Function.__dict__.get("apply")
    if not isinstance(raw, classmethod):  # pragma: no cover - another torch layout
        return
    fn = raw.__func__
    nodes = {}
    g = S.graph
    if g is not None and hasattr(g, "nodes"):
        nodes = {n.get("qualname"): n.id for n in g.nodes("function") if n.get("role") == "autograd_function"}
    if not nodes:
        return

    def apply(cls, *args, **kwargs):
        s = _S
        if s is not None and not s.suspended and cls not in s.functions_seen:
            s.functions_seen.add(cls)
            node = nodes.get(getattr(cls, "__qualname__", None))
            if node is not None:
                s.run_probes("on_function_apply", node, functools.partial(fn, cls), args, kwargs)
        return fn(cls, *args, **kwargs)

    torch.autograd.Function.apply = classmethod(apply)
    S.patches.append((torch.autograd.Function, "apply", raw))


def _install_global_hooks(S: RunState) -> None:
    from torch.optim.optimizer import (register_optimizer_step_post_hook,
                                       register_optimizer_step_pre_hook)

    _install_function_check(S)
    S.handles.append(register_optimizer_step_pre_hook(_opt_pre_hook))
    S.handles.append(register_optimizer_step_post_hook(_opt_post_hook))

    def make_backward(orig):
        def backward(*args, **kwargs):
            s = _S
            if s is not None and not s.suspended:
                s.raw_iteration()
                s.event("backward", s.lead.node if s.lead else None,
                        s.last_training_mode, True)
                t = args[0] if args else kwargs.get("tensors")
                sc = s.amp_scaled
                if sc is not None:
                    s.amp_scaled = None
                    if sc[0] is t:  # scaler.scale(loss).backward(): record the loss, not loss * scale
                        t = sc[1]
                if not s.loss_seen and isinstance(t, torch.Tensor) and t.numel() == 1:
                    _on_loss(s, s.backward_loss, t, (), {})
                result = orig(*args, **kwargs)
                if not s.any_opt_known:
                    s.dirty = True
                return result
            return orig(*args, **kwargs)
        return backward

    _patch(S, torch.autograd, "backward", make_backward)

    def make_opt_zero_grad(orig):
        def zero_grad(self, *args, **kwargs):
            s = _S
            if s is not None and not s.suspended:
                ow = s.optimizers.get(id(self))
                s.event("zero_grad", ow.node if ow else None, s.last_training_mode)
            return orig(self, *args, **kwargs)
        return zero_grad

    _patch(S, torch.optim.Optimizer, "zero_grad", make_opt_zero_grad)

    def make_mod_zero_grad(orig):
        def zero_grad(self, *args, **kwargs):
            s = _S
            if s is not None and not s.suspended:
                mw = s.models.get(id(self))
                if mw is not None:
                    s.event("zero_grad", mw.node, self.training)
            return orig(self, *args, **kwargs)
        return zero_grad

    _patch(S, torch.nn.Module, "zero_grad", make_mod_zero_grad)

    def make_call(orig):
        def __call__(self, *args, **kwargs):
            s = _S
            entry = s.call_hooks.get(id(self)) if s is not None else None
            if entry is None:
                return orig(self, *args, **kwargs)
            for fn in tuple(entry[0]):
                fn(self, args, kwargs)
            out = orig(self, *args, **kwargs)
            for fn in tuple(entry[1]):
                fn(self, args, out)
            return out
        setattr(__call__, CALL_MARK, True)
        return __call__

    _patch(S, torch.nn.Module, "__call__", make_call)
    _install_process_hooks(S)

    def make_train(orig):
        def train(self, mode: bool = True):
            s = _S
            if s is not None and not s.suspended:
                mw = s.models.get(id(self))
                if mw is not None:
                    s.event("train" if mode else "eval", mw.node, bool(mode))
            return orig(self, mode)
        return train

    _patch(S, torch.nn.Module, "train", make_train)

    for fname in ("clip_grad_norm_", "clip_grad_value_"):
        def make_clip(orig):
            def clip(*args, **kwargs):
                s = _S
                if s is not None and not s.suspended:
                    s.event("clip", s.lead.node if s.lead else None, s.last_training_mode)
                return orig(*args, **kwargs)
            return clip
        _patch(S, torch.nn.utils, fname, make_clip)

    _install_amp_hooks(S)


def _install_process_hooks(S: RunState) -> None:
    """Training in worker processes (faultlens/instrumenter/workers.py): ``Process.start`` wraps
    a target of the program's own code so the child records a trace shard; ``Process.join``
    merges it; a spawned child's preparation data carries the rewritten local modules."""
    import multiprocessing.process as mp_process
    import multiprocessing.spawn as mp_spawn
    from faultlens.instrumenter import workers

    def make_start(orig):
        def start(self):
            s = _S
            cfg = s.child_config if s is not None and not s.suspended else None
            target = getattr(self, "_target", None)
            args, kwargs = tuple(getattr(self, "_args", ()) or ()), dict(getattr(self, "_kwargs", {}) or {})
            if cfg is not None and target is not None and not isinstance(target, workers.ChildEntry) \
                    and workers.is_program_target(target, args, cfg["roots"]):
                rank = len(s.children)
                path = f"{s.writer.path}.proc{rank}"
                self._target = workers.ChildEntry(
                    target, workers.shard_config(cfg, trace_path=path, rank=rank, parent_trace=s.writer.path),
                    workers.watched_paths(s, args, kwargs))
                s.children.append(workers.ChildRecord(self, path, s.step, rank))
            return orig(self)
        return start

    def make_join(orig):
        def join(self, timeout=None):
            out = orig(self, timeout)
            s = _S
            if s is not None and self.exitcode is not None:
                for rec in s.children:
                    if rec.proc is self and not rec.done:
                        workers.merge_child(s, rec)
            return out
        return join

    def make_prep(orig):
        def get_preparation_data(name):
            d = orig(name)
            s = _S
            cfg = s.child_config if s is not None else None
            if cfg is not None:
                d["faultlens_bootstrap"] = workers._Bootstrap(cfg.get("codes") or {}, cfg.get("program"),
                                                              cfg.get("main_code"))
            return d
        return get_preparation_data

    _patch(S, mp_process.BaseProcess, "start", make_start)
    _patch(S, mp_process.BaseProcess, "join", make_join)
    _patch(S, mp_spawn, "get_preparation_data", make_prep)


def _install_amp_hooks(S: RunState) -> None:
    """Mixed precision: wrap ``GradScaler.scale`` and ``GradScaler.step`` (``torch.amp``'s class;
    ``torch.cuda.amp.GradScaler`` and ``torch.cpu.amp.GradScaler`` inherit them). ``import torch``
    has loaded that module already; nothing is imported for it, and a run that never calls a
    scaler never reaches these wrappers.

    * ``scale(loss)``: the scaled tensor is remembered, so that the backward on it records the
      loss itself (a loss the program writes by hand is recorded at ``backward``).
    * ``step(opt)``: the scale of this iteration (``amp_scale``) and whether the scaler skipped
      the step (``amp_skipped``: it found inf/NaN gradients and did not call ``optimizer.step()``;
      torch.amp docs). A skipped step records an ``amp_skip`` event and closes the iteration as an
      optimizer step would, so iterations keep their own loss and are not read as a loop whose
      optimizer never steps. The probes at the optimizer's step pre hook see unscaled gradients:
      ``GradScaler.step`` unscales before ``optimizer.step()``, except for an optimizer that
      unscales inside its own step (``_step_supports_amp_scaling``: the fused ones), for which
      the gradient norms are divided by the scale.
    """
    gs = sys.modules.get("torch.amp.grad_scaler")
    cls = getattr(gs, "GradScaler", None)
    if cls is None or not callable(getattr(cls, "step", None)) or not callable(getattr(cls, "scale", None)):
        return
    unscaled_stage = getattr(getattr(gs, "OptState", None), "UNSCALED", None)

    def make_scale(orig):
        def scale(self, outputs, *args, **kwargs):
            out = orig(self, outputs, *args, **kwargs)
            s = _S
            if s is not None and not s.suspended and isinstance(outputs, torch.Tensor) and out is not outputs:
                s.amp_scaled = (out, outputs)
            return out
        return scale

    def make_step(orig):
        def step(self, optimizer, *args, **kwargs):
            s = _S
            if s is None or s.suspended or not _scaler_enabled(self):
                return orig(self, optimizer, *args, **kwargs)
            try:
                scale: float | None = float(self.get_scale())
            except Exception:
                scale = None
            key = id(optimizer)
            ow = s.optimizers.get(key)
            before = ow.steps if ow is not None else 0
            fused = bool(getattr(optimizer, "_step_supports_amp_scaling", False))
            if fused and scale:
                st = getattr(self, "_per_optimizer_states", {}).get(key)
                if st is None or st.get("stage") is not unscaled_stage:
                    s.amp_grad_div = (key, scale)   # its step sees the gradients still scaled
            try:
                ret = orig(self, optimizer, *args, **kwargs)
            finally:
                s.amp_grad_div = None
            ow = s.optimizers.get(key)
            skipped = (ow.steps if ow is not None else 0) == before or (fused and _found_inf(self, key))
            _amp_record(s, ow, scale, skipped)
            return ret
        return step

    _patch(S, cls, "scale", make_scale)
    _patch(S, cls, "step", make_step)


def _scaler_enabled(scaler: Any) -> bool:
    try:
        return bool(scaler.is_enabled())
    except Exception:
        return False


def _found_inf(scaler: Any, key: int) -> bool:
    """The scaler found inf/NaN gradients for the optimizer ``key`` in this iteration (read
    after a fused optimizer's step, which skips its update itself)."""
    try:
        st = scaler._per_optimizer_states.get(key)
        return bool(st) and sum(float(v) for v in st["found_inf_per_device"].values()) > 0
    except Exception:
        return False


def _amp_record(S: RunState, ow: OptWatch | None, scale: float | None, skipped: bool) -> None:
    a = S.amp
    if a is None:
        a = S.amp = AmpWatch()
    node = (ow.node if ow is not None else None) or (S.lead.node if S.lead is not None else None) or "amp"
    a.steps += 1
    if scale is not None:
        if a.first_scale is None:
            a.first_scale = scale
        a.last_scale = scale
        a.min_scale = scale if a.min_scale is None else min(a.min_scale, scale)
        S.put("amp_scale", node, scale)
    S.put("amp_skipped", node, 1.0 if skipped else 0.0)
    if not skipped:
        a.streak, a.streak_from = 0, None
        return
    a.skipped += 1
    if a.streak == 0:
        a.streak_from = S.step
    a.streak += 1
    a.longest = max(a.longest, a.streak)
    S.event("amp_skip", node, S.last_training_mode)
    S.writer.set_meta(amp=a.to_meta())
    # the iteration ends here as it would after optimizer.step()
    S.fwd_since_step = False
    S.mark_dirty()


# ====================================================================== watch API
def watch_model(model: Any, node: str | None = None) -> Any:
    """Observe a model (an ``nn.Module``) created by the statement that ``node`` names."""
    S = _S
    if S is None or not isinstance(model, torch.nn.Module):
        return model
    if id(model) in S.models:
        return model
    try:
        node = node or f"model:{S.program or 'program'}:0:model#{len(S.models)}"
        names, after = module_map(S.graph, node)
        mw = ModelWatch(model, node, names, after)
        mw.handles.append(hook_call(S.call_hooks, model, pre=_fwd_pre_hook))
        mw.handles.append(hook_call(S.call_hooks, model, post=_fwd_hook))
        S.models[id(model)] = mw
        for pid, pname in mw.param_names.items():
            S.param_owner.setdefault(pid, (mw, pname))
    except Exception as exc:
        S.disable("watch_model", exc)
    return model


def watch_optimizer(opt: Any, node: str | None = None) -> Any:
    S = _S
    if S is None or not isinstance(opt, torch.optim.Optimizer):
        return opt
    ow = S.optimizers.get(id(opt))
    if ow is None:
        S.optimizers[id(opt)] = OptWatch(opt, node)
    elif ow.node is None:
        ow.node = node
    S.any_opt_known = True
    return opt


def watch_loss(fn: Any, node: str | None = None) -> Any:
    S = _S
    if S is None or not isinstance(fn, torch.nn.Module) or id(fn) in S.losses:
        return fn
    lw = LossWatch(fn, node or "loss", type(fn).__name__)
    S.losses[id(fn)] = lw

    def hook(module, args, output):
        s = _S
        if s is None or s.suspended:
            return None
        _on_loss(s, lw, output, args, {})
        return None

    S.handles.append(hook_call(S.call_hooks, fn, post=hook))
    return fn


def call_loss(fn: Callable[..., Any], *args: Any, node: str | None = None, **kwargs: Any) -> Any:
    """Call a functional loss (``F.cross_entropy(out, y)``) and record it."""
    out = fn(*args, **kwargs)
    S = _S
    if S is None or S.suspended:
        return out
    if getattr(fn, "__name__", "") not in _FUNCTIONAL_LOSSES and not _prediction_and_target(args):
        # the program's own loss function called on something else than a prediction and a
        # target (``compute_loss(x, y)`` on raw inputs): its value is seen at backward()
        return out
    key = id(fn)
    lw = S.losses.get(key)
    if lw is None or lw.node != node:
        lw = LossWatch(fn, node or getattr(fn, "__name__", "loss"), _functional_loss_type(fn))
        S.losses[key] = lw
    _on_loss(S, lw, out, args, kwargs)
    return out


_FUNCTIONAL_LOSSES = TRACED_FUNCTIONAL_LOSSES


def _prediction_and_target(args: tuple) -> bool:
    """The first two arguments of a loss function of the program's own are a prediction (a
    tensor that carries gradients, or any tensor while gradients are off) and a target (a
    tensor that does not)."""
    if len(args) < 2 or not isinstance(args[0], torch.Tensor) or not isinstance(args[1], torch.Tensor):
        return False
    return (args[0].requires_grad or not torch.is_grad_enabled()) and not args[1].requires_grad


def _functional_loss_type(fn: Any) -> str:
    name = getattr(fn, "__name__", "")
    return _FUNCTIONAL_LOSSES.get(name, name)


def record_loss(value: Any, node: str | None = None) -> None:
    """The loss of a loop that derives its gradients by hand (no autograd, no optimizer: the
    analyzer's ``hand_derived`` loss), recorded where the program assigns it. As with raw
    tensors and ``backward`` (no watched model or optimizer), each recording after the first
    closes an iteration; the value is a training loss although no graph was built for it."""
    S = _S
    if S is None or S.suspended:
        return
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            return
        t = value.detach().float().reshape(())
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        t = torch.tensor(float(value))
    else:
        return
    S.raw_iteration()
    key = ("hand", node)
    lw = S.losses.get(key)
    if lw is None:
        lw = S.losses[key] = LossWatch(None, node or "loss", "hand_derived")
    _on_loss(S, lw, t, (), {}, training=True)
    if not S.any_opt_known:
        S.dirty = True


def watch_loader(loader: Any, node: str | None = None) -> Any:
    S = _S
    if S is None or loader is None:
        return loader
    if id(loader) not in S.loaders:
        S.loaders[id(loader)] = node or "dataloader"
        info = {"node": node, "type": type(loader).__name__}
        for attr in ("batch_size", "num_workers", "drop_last"):
            v = getattr(loader, attr, None)
            if isinstance(v, (int, bool)) or v is None:
                info[attr] = v
        try:
            info["batches"] = len(loader)
        except Exception:
            info["batches"] = None
        try:
            info["dataset_size"] = len(loader.dataset)  # type: ignore[attr-defined]
        except Exception:
            info["dataset_size"] = None
        loaders = dict(S.writer._meta.get("loaders") or {})
        loaders[node or "dataloader"] = info
        S.writer.set_meta(loaders=loaders)
    return loader


def watch_scheduler(sched: Any, node: str | None = None) -> Any:
    S = _S
    if S is None or sched is None:
        return sched
    if id(sched) in S.schedulers:
        return sched
    S.schedulers[id(sched)] = node or "scheduler"
    owner = next((c for c in type(sched).__mro__ if "step" in c.__dict__), None)
    if owner is not None and not any(o is owner and n == "step" for o, n, _ in S.patches):
        def make(orig):
            def step(self, *args, **kwargs):
                s = _S
                if s is not None and id(self) in s.schedulers and not s.suspended:
                    s.event("sched_step", s.schedulers[id(self)], s.last_training_mode)
                return orig(self, *args, **kwargs)
            return step
        _patch(S, owner, "step", make)
    return sched


def epochs(iterable: Iterable[Any], node: str | None = None) -> Iterable[Any]:
    """Wrap the iterable of an epoch loop: records an ``epoch`` event per iteration."""
    if _S is None:
        return iterable
    return _epoch_iter(iterable, node)


def _epoch_iter(iterable: Iterable[Any], node: str | None):
    for i, item in enumerate(iterable):
        s = _S
        if s is not None:
            s.event("epoch", node, s.last_training_mode)
        yield item


def iterations(iterable: Iterable[Any], node: str | None = None) -> Iterable[Any]:
    """Wrap the iterable of the batch (step) loop the graph found: each new item after a
    backward/step closes the training iteration. While such a loop runs, the lead model's
    forward no longer closes iterations, so a program that calls one model several times
    between steps (a GAN's discriminator on real data, on fakes, then for the generator's
    loss) counts one iteration per batch, not one per optimizer."""
    if _S is None:
        return iterable
    return _batch_iter(iterable)


def _batch_iter(iterable: Iterable[Any]):
    s0 = _S
    if s0 is not None:
        s0.batch_loops += 1
    try:
        for item in iterable:
            s = _S
            if s is not None and s.dirty and not s.suspended:
                s.advance()
            yield item
    finally:
        if s0 is not None:
            s0.batch_loops -= 1


# ====================================================================== hooks
def _fwd_pre_hook(module, args, kwargs):
    S = _S
    if S is None or S.suspended:
        return None
    mw = S.models.get(id(module))
    if mw is None:
        return None
    if mw.act_handles:  # a previous sampled forward raised before its forward hook ran
        _remove_act_hooks(mw)
    grad = torch.is_grad_enabled()
    training = module.training
    S.last_training_mode = training
    if grad:
        if S.lead is None:
            S.lead = mw
        if mw is S.lead and S.dirty and not S.batch_loops:
            S.advance()
        S.start_training()
        S.fwd_since_step = True
        S.event("forward", mw.node, training, True)
        if S.keep_last_batch:
            mw.last_inputs = (args, kwargs)
        if S.sampled and mw.sampled_step != S.step:
            mw.sampled_step = S.step
            S.run_probes("on_forward_pre", mw, args, kwargs)
    else:
        S.event("eval_forward", mw.node, training, False)
        if mw.eval_sampled_step != S.step:  # one evaluation batch per training step at most
            mw.eval_sampled_step = S.step
            S.run_probes("on_eval_forward_pre", mw, args, kwargs)
    return None


def _fwd_hook(module, args, output):
    S = _S
    if S is None or S.suspended:
        return None
    mw = S.models.get(id(module))
    if mw is None:
        return None
    mw.last_output = output
    if mw.act_handles:
        _remove_act_hooks(mw)
        S.run_probes("on_forward", mw, args, output)
    return None


def _remove_act_hooks(mw: ModelWatch) -> None:
    for h in mw.act_handles:
        h.remove()
    mw.act_handles = []


def _producer(S: RunState, t: Any) -> ModelWatch | None:
    for mw in S.models.values():
        o = mw.last_output
        if o is t:
            return mw
        if isinstance(o, (tuple, list)) and any(x is t for x in o):
            return mw
    return None


def _on_loss(S: RunState, lw: LossWatch, out: Any, args: tuple, kwargs: dict, training: bool = False) -> None:
    """Record one loss value. ``training``: a training loss that has no autograd graph (a
    hand-derived loss, ``record_loss``), else training means that a graph was built for it."""
    if not isinstance(out, torch.Tensor):
        return
    grad = training or (torch.is_grad_enabled() and out.requires_grad)
    first = args[0] if args else None
    mw = _producer(S, first) if first is not None else None
    if mw is not None and mw.node not in S.fed_loss:
        # which watched models produce a loss input (a GAN's discriminator does, its generator
        # does not): once per model and run
        S.fed_loss.add(mw.node)
        S.put("feeds_loss", mw.node, 1.0)
    training_mode = mw.model.training if mw is not None else S.last_training_mode
    # grad disabled: evaluation. Grad enabled with the model in eval mode is ambiguous (an
    # evaluation without no_grad, or training with a model left in eval mode): the values
    # wait until the iteration ends and count as training values if a backward reached this
    # loss (a tensor hook on it fired), else as val_* values.
    val = not grad
    ambiguous = grad and training_mode is False
    if grad:
        S.loss_seen = True
    S.event("loss", lw.node, training_mode, torch.is_grad_enabled())
    if ambiguous:
        pend = _Pending()
        S.pending.append(pend)
        S.redirect = pend
        out.register_hook(pend.mark)
    try:
        S.run_probes("on_loss", lw, out, args, kwargs, val)
    finally:
        S.redirect = None
    if not val and S.keep_last_batch and mw is not None and mw.last_inputs is not None:
        S.last_batch = LastBatch(mw, mw.last_inputs, lw, args[1:], kwargs)
    for m in S.models.values():
        m.last_output = None


class _Pending:
    """Per-step means of one ambiguous loss call, resolved when the iteration ends."""

    __slots__ = ("items", "used")

    def __init__(self):
        self.items: list[tuple[str, str | None, float, float]] = []
        self.used = False

    def mark(self, grad):
        self.used = True
        return None


def _opt_pre_hook(opt, args, kwargs):
    S = _S
    if S is None or S.suspended:
        return None
    ow = S.optimizers.get(id(opt))
    if ow is None:
        ow = S.optimizers[id(opt)] = OptWatch(opt, None)
    if S.start_training() and S.dirty and not S.fwd_since_step:
        # no watched training forward since the last step (LBFGS closures run inside step();
        # a model called through .forward() bypasses hooks): the step itself opens an iteration
        S.advance()
    S.event("step", ow.node, S.last_training_mode)
    S.run_probes("on_opt_pre", ow)
    return _with_counted_closure(ow, args, kwargs)


def _with_counted_closure(ow: OptWatch, args: tuple, kwargs: dict):
    """A closure passed to ``step`` (LBFGS, and any optimizer that re-evaluates the loss):
    each evaluation after the first follows a parameter update made inside ``step`` (LBFGS
    updates, then evaluates again, up to ``max_eval`` times per call; torch.optim.LBFGS docs),
    so it is an iteration of its own. Without this a program of a few LBFGS calls records a
    few iterations although it made dozens of updates, and reads as cut short. Each later
    evaluation closes the iteration, opens the next and records the update as a ``step``
    event before the closure's own calls, the same order as the first evaluation's. An
    optimizer that calls its closure once (SGD, Adam) records exactly what it did before.
    Returns the pre hook's ``(args, kwargs)`` with the closure wrapped, or None (no closure)."""
    # the step wrapper passes the optimizer itself as args[0] (torch.optim.Optimizer.profile_hook_step)
    closure = kwargs.get("closure") if "closure" in kwargs else (args[1] if len(args) > 1 else None)
    if not callable(closure):
        return None
    calls = [0]

    @functools.wraps(closure)
    def counted(*a, **k):
        s = _S
        if s is not None and not s.suspended:
            if calls[0] and s.dirty:
                s.advance()
                s.closure_evals += 1
                s.event("step", ow.node, s.last_training_mode)
            calls[0] += 1
        out = closure(*a, **k)
        s = _S
        if s is not None and not s.suspended:
            s.mark_dirty()
        return out

    if "closure" in kwargs:
        return args, {**kwargs, "closure": counted}
    return (args[0], counted, *args[2:]), kwargs


def _opt_post_hook(opt, args, kwargs):
    S = _S
    if S is None or S.suspended:
        return None
    ow = S.optimizers.get(id(opt))
    if ow is None:
        return None
    ow.steps += 1
    S.any_opt_known = True
    if ow.steps == 1:
        _lead_for(S, opt)
    S.run_probes("on_opt_post", ow)
    S.fwd_since_step = False
    S.mark_dirty()
    return None


def _lead_for(S: RunState, opt: torch.optim.Optimizer) -> None:
    """At an optimizer's first step: the lead model (whose training forward opens an iteration)
    must be one that some optimizer of the program trains. A module called with gradients on
    before training (a tutorial's ``nn.Linear`` demo, a frozen feature extractor) may have become the lead
    while the trained model is another; then the lead moves to the watched model that owns
    most of this optimizer's parameters, else no iteration would ever close."""
    lead = S.lead
    if lead is None:
        return
    trained = set().union(*(_param_ids(ow.opt) for ow in S.optimizers.values()))
    if lead.param_names.keys() & trained:
        return  # some optimizer trains the lead (a GAN's generator while its discriminator steps)
    params = _param_ids(opt)
    best = max(S.models.values(), key=lambda mw: len(mw.param_names.keys() & params), default=None)
    if best is not None and best.param_names.keys() & params:
        S.lead = best


def _param_ids(opt: torch.optim.Optimizer) -> set[int]:
    return {id(p) for g in opt.param_groups for p in g.get("params", ())}


def _env_configure() -> None:
    """Configure from environment variables (``FAULTLENS_TRACE``) when the rewritten file is
    run directly with ``python``; without them the runtime stays a no-op."""
    path = os.environ.get("FAULTLENS_TRACE")
    if not path or _S is not None:
        return
    graph = None
    gpath = os.environ.get("FAULTLENS_GRAPH")
    if gpath and os.path.exists(gpath):
        try:
            from faultlens.analyzer.graph import ProgramGraph
            with open(gpath, encoding="utf-8") as fh:
                graph = ProgramGraph.from_json(fh.read())
        except Exception:
            graph = None
    configure(trace_path=path, graph=graph, program=sys.argv[0] if sys.argv else None)
    import atexit
    atexit.register(lambda: (finish("finished"), reset()))


_env_configure()

