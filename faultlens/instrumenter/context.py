"""The probe context: everything a probe may see of a run and do in it.

A probe (:mod:`faultlens.instrumenter.probes`) gets one :class:`ProbeContext` when the run
starts and never the runtime's state itself, in the spirit of Cockpit's quantities, each of
which computes from a narrow ``(step, params, loss)``-style interface (Schneider et al.,
"Cockpit: A Practical Debugging Tool for the Training of Deep Neural Networks", NeurIPS 2021).
What it can do:

* record: :meth:`put` a value at the current step, :meth:`put_key` the same with a prebuilt
  ``(metric, node)`` key, :meth:`mean` a value into a per-step mean;
* read the step's facts: :attr:`step`, :attr:`sampled` (detailed probes run on this step),
  :attr:`tier1` (the every-step tensor probes run), :attr:`lead_node`, :attr:`last_batch`,
  :meth:`training_seconds`, :meth:`grad_scale`;
* name nodes: :meth:`param_node`, :meth:`params_node`;
* steer the run by named requests only: :meth:`request_sample` (detailed probes on the next
  step), :meth:`mark_nonfinite_loss` (the non-finite early stop counts this iteration);
* observe more: :meth:`hook_layer` (a leaf-layer hook for the current forward, timed and
  guarded like a probe hook), :meth:`unrecorded` (run forwards of its own unseen).
"""
from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from faultlens.instrumenter.callhooks import hook_call
from faultlens.instrumenter.watchers import LastBatch, ModelWatch, OptWatch, param_node, params_node

if TYPE_CHECKING:  # annotations only: the runtime imports this module, not the other way round
    from faultlens.instrumenter.probes.base import Probe
    from faultlens.instrumenter.runtime import RunState


class ProbeContext:
    """A run's narrow face towards its probes (see the module docstring)."""

    __slots__ = ("_s", "put", "put_key", "mean")

    def __init__(self, state: "RunState"):
        self._s = state
        #: ``put(metric, node, value)``: record ``value`` at the current step (node None: dropped)
        self.put: Callable[[str, str | None, float], None] = state.put
        #: ``put_key((metric, node), value)``: :meth:`put` with a prebuilt key and a float value
        self.put_key: Callable[[tuple[str, str | None], float], None] = state.put_key
        #: ``mean(metric, node, value, weight=1.0)``: add to the step's weighted mean of a series
        self.mean: Callable[..., None] = state.mean

    # ------------------------------------------------------------------ the step's facts
    @property
    def step(self) -> int:
        """The current training iteration (0-based)."""
        return self._s.step

    @property
    def sampled(self) -> bool:
        """Whether the detailed probes run on this step."""
        return self._s.sampled

    @property
    def tier1(self) -> bool:
        """Whether the every-step tensor probes (accuracy, fused gradient norm) run on this step."""
        return self._s.tier1

    @property
    def lead_node(self) -> str | None:
        """Node of the lead model (whose training forward opens an iteration), if any."""
        lead = self._s.lead
        return lead.node if lead is not None else None

    @property
    def last_batch(self) -> LastBatch | None:
        """The last training loss computed from a watched model's output (kept only when a probe
        of the run sets ``uses_last_batch``)."""
        return self._s.last_batch

    def training_seconds(self) -> float | None:
        """Seconds since the first training forward; None before it."""
        t0 = self._s.train_t0
        return None if t0 is None else time.perf_counter() - t0

    def grad_scale(self, opt: Any) -> float | None:
        """The loss scale the gradients of ``opt`` still carry at its step pre hook (a
        GradScaler's fused optimizer unscales inside its own step), or None when unscaled."""
        div = self._s.amp_grad_div
        if div is not None and div[0] == id(opt) and div[1] > 0:
            return div[1]
        return None

    # ------------------------------------------------------------------ node names
    def param_node(self, p: Any, ow: OptWatch | None = None, gi: int = 0, pi: int = 0) -> str | None:
        """Trace node of parameter ``p`` (group ``gi``, index ``pi`` of ``ow``'s optimizer)."""
        return param_node(self._s.param_owner, p, ow, gi, pi)

    def params_node(self, ow: OptWatch, params: Iterable[Any]) -> str | None:
        """Node of a figure over all of ``ow``'s parameters: their watched model, else ``ow``."""
        return params_node(self._s.param_owner, ow, params)

    # ------------------------------------------------------------------ requests
    def request_sample(self) -> None:
        """Run the detailed probes on the next step too."""
        self._s.trigger_sample = True

    def mark_nonfinite_loss(self) -> None:
        """This iteration's training loss is NaN/Inf (the non-finite early stop counts it)."""
        self._s.step_loss_nonfinite = True

    # ------------------------------------------------------------------ observing more
    def hook_layer(self, probe: "Probe", mw: ModelWatch, module: Any,
                   fn: Callable[[Any, tuple, Any], None]) -> None:
        """Call ``fn(module, args, output)`` after each call of ``module`` until ``mw``'s current
        forward ends (the runtime removes the hook then). Its time counts as ``probe``'s; if it
        raises, ``probe`` is disabled and the forward's other layer hooks go too."""
        s = self._s
        name = probe.name
        pc = time.perf_counter

        def hook(module, args, output):
            t0 = pc()
            try:
                fn(module, args, output)
            except Exception as exc:  # reported like any probe error
                s.disable(name, exc)
                for h in mw.act_handles:
                    h.remove()
                mw.act_handles = []
            finally:
                s.charge(probe, pc() - t0)
            return None

        mw.act_handles.append(hook_call(s.call_hooks, module, post=hook))

    @contextlib.contextmanager
    def unrecorded(self) -> Iterator[None]:
        """Forwards, losses and steps inside this block are the probe's own: not recorded,
        no probe runs on them."""
        s = self._s
        s.suspended += 1
        try:
            yield
        finally:
            s.suspended -= 1
