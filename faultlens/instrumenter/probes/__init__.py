"""Probes: one small class per measured quantity (Cockpit's "one instrument = one quantity").

Each probe module registers its classes in :data:`REGISTRY` (``@register``); importing this
package discovers them all (``Registry.discover``, as the symptoms and lint rules do). A run
gets one instance of each class :func:`select` picks: every probe, plus each opt-in probe whose
run option is set (``opt_in = "curvature"``: only with ``--curvature``). A probe sees the run
only through its :class:`~faultlens.instrumenter.context.ProbeContext` (``self.ctx``) and
implements some of these hooks, called by :mod:`faultlens.instrumenter.runtime`:

``on_forward_pre(mw, args, kwargs)``      sampled training forward of a watched model (before)
``on_forward(mw, args, output)``          the same forward, after (leaf hooks already removed)
``on_eval_forward_pre(mw, args, kwargs)`` an evaluation forward (grad disabled), once per step
``on_loss(lw, out, args, kwargs, val)``   every loss computation (``val``: grad disabled / eval)
``on_opt_pre(ow)`` / ``on_opt_post(ow)``  every optimizer step (before / after the update)
``on_function_apply(node, apply, args, kwargs)`` the first application of each custom
                                          ``torch.autograd.Function`` the program defines

(``mw``/``ow``/``lw``: the :mod:`~faultlens.instrumenter.watchers` records, read only.)

Tiering follows the probes' measured costs (docs/instrumenter.md) and published thresholds
(docs/diagnosis.md): every step only the loss, accuracy (an argmax over the batch), the learning
rate (a Python float) and one fused gradient norm (``torch._foreach_norm``); on sampled steps (the
first ``dense_steps`` and every ``sample_every``-th, default 3 and 10; a non-finite loss triggers
the next step too) activation statistics via leaf forward hooks that exist only during that
forward, per-parameter gradient/weight/update statistics, batch statistics; curvature only
with ``--curvature``, under a time budget. Statistics use the cheap reductions (mean, std,
amin/amax); non-finite counts are computed only when a mean is non-finite.

A probe never modifies tensors it reads and never draws from the global RNG.
"""
from __future__ import annotations

from faultlens.instrumenter.probes.base import (GATES, REGISTRY, Probe, first_tensor, make_probes, register,
                                                select, tensor_stats)

REGISTRY.discover(__name__)

__all__ = ["GATES", "REGISTRY", "Probe", "register", "select", "make_probes", "first_tensor", "tensor_stats"]
