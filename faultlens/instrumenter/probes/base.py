"""The probe base class, the probe registry, the selection of a run's probes, tensor helpers."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar, Mapping

import torch

from faultlens.registry import Registry

if TYPE_CHECKING:
    from faultlens.instrumenter.context import ProbeContext

#: the values a hook's gate may take (see :attr:`Probe.gates`)
GATES = ("sampled", "tier1")


class Probe:
    """One measured quantity (Cockpit's "one instrument = one quantity").

    A subclass sets :attr:`name` and implements some of the hooks listed in
    :mod:`faultlens.instrumenter.probes`; it reads the run and records values only through
    :attr:`ctx` (a :class:`~faultlens.instrumenter.context.ProbeContext`) and keeps whatever
    it must remember between hooks on itself, never on the watched objects it is handed."""

    name: ClassVar[str] = ""
    #: hook name -> "sampled" | "tier1": the runtime calls that hook only on sampled steps /
    #: tier-1 steps (saves the call and its timing on the other steps); ungated hooks run
    #: every step and decide for themselves.
    gates: ClassVar[dict[str, str]] = {}
    #: position among the probes of one hook (lower first). It also fixes the order in which
    #: series first appear in a trace (their ``series_keys`` ids), so it is part of the format.
    order: ClassVar[int] = 100
    #: None: on in every run. Else the name of the run option (``configure``/``execute``
    #: keyword, ``--curvature``) that turns it on; the option's value becomes :attr:`setting`.
    opt_in: ClassVar[str | None] = None
    #: True: the probe bounds its own time (curvature); its time is reported but not charged to
    #: the shared budget that postpones sampled steps.
    own_budget: ClassVar[bool] = False
    #: True: the runtime keeps the last training batch for this probe (``ctx.last_batch``).
    uses_last_batch: ClassVar[bool] = False

    def __init__(self, ctx: "ProbeContext", setting: Any = None):
        self.ctx = ctx
        self.setting = setting


def _check_probe(cls: type[Probe]) -> None:
    if not cls.name or any(g not in GATES for g in cls.gates.values()):
        raise ValueError(f"bad probe class {cls.__name__}: needs a name and gates among {GATES}")


#: every probe class by name (filled by ``@register`` as the probe modules are imported).
REGISTRY: Registry[type[Probe]] = Registry("probe", check=_check_probe)
register = REGISTRY.register


def select(options: Mapping[str, Any]) -> list[type[Probe]]:
    """The probe classes a run with ``options`` uses, in :attr:`Probe.order`: every probe
    without ``opt_in``, and each opt-in probe whose option is set."""
    return sorted((c for c in REGISTRY.values() if c.opt_in is None or options.get(c.opt_in)),
                  key=lambda c: (c.order, c.name))


def make_probes(ctx: "ProbeContext", options: Mapping[str, Any]) -> list[Probe]:
    """One instance of each selected probe (see :func:`select`)."""
    return [c(ctx, options.get(c.opt_in) if c.opt_in else None) for c in select(options)]


# ---------------------------------------------------------------------- tensor helpers
def first_tensor(x: Any) -> torch.Tensor | None:
    """The first tensor in ``x`` (nested tuples, lists, dicts; a PackedSequence's ``.data``)."""
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, (tuple, list)):
        for item in x:
            t = first_tensor(item)
            if t is not None:
                return t
    if isinstance(x, dict):
        for item in x.values():
            t = first_tensor(item)
            if t is not None:
                return t
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


def opt_params(opt: Any) -> list[tuple[int, int, torch.Tensor]]:
    """``(group index, index in group, parameter)`` of every parameter of an optimizer."""
    out = []
    for gi, group in enumerate(opt.param_groups):
        for pi, p in enumerate(group["params"]):
            out.append((gi, pi, p))
    return out
