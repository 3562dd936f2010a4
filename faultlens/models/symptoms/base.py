"""Symptom base class, the detection record, the registry and small series helpers."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from faultlens.models.symptoms.graph_facts import GraphFacts
from faultlens.models.symptoms.trace_view import TraceView
from faultlens.registry import Registry
from faultlens.taxonomy import MIN_STEPS  # noqa: F401 (re-exported: symptoms import it from here)

#: symptom categories: ``failure`` = training did not work; ``defect`` = a bug in the program
#: whatever the curves look like; ``context`` = explains a failure but is no failure alone.
CATEGORIES = ("failure", "defect", "context")


@dataclass
class Detection:
    """One symptom observed in a trace: which, where (step, graph node) and the measured value."""

    symptom: str
    step: int | None
    node: str | None
    value: Any
    message: str = ""
    category: str = "failure"
    strength: float = 1.0  # 0..1: how far past the threshold (1 = clearly)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        v = self.value
        if isinstance(v, float) and not math.isfinite(v):
            v = str(v)
        return {"symptom": self.symptom, "step": self.step, "node": self.node, "value": _jsonable(v),
                "message": self.message, "category": self.category}

    def evidence(self) -> dict[str, Any]:
        d = self.to_dict()
        return {k: d[k] for k in ("symptom", "step", "node", "value")}


def _jsonable(v: Any) -> Any:
    if isinstance(v, (np.floating, np.integer)):
        v = v.item()
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return float(f"{v:.6g}")
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


class Symptom:
    """A detector. Subclasses set ``name``, ``category``, ``reliability``, ``evidence`` and
    implement :meth:`detect`. The class docstring states the threshold and its published source."""

    name: ClassVar[str] = ""
    category: ClassVar[str] = "failure"
    #: probability that the program is faulty given this symptom fired (noisy-OR input).
    reliability: ClassVar[float] = 0.8
    #: the symptom's row of the diagnosis's rule-evidence table: {fault type: score}, scores
    #: natural-log likelihood ratios (faultlens.models.diagnosis builds ``EVIDENCE`` from these)
    evidence: ClassVar[dict[str, float]] = {}

    def detect(self, tv: TraceView, gf: GraphFacts) -> list[Detection]:  # pragma: no cover
        raise NotImplementedError

    def hit(self, step: int | None, node: str | None, value: Any, message: str, strength: float = 1.0,
            **details: Any) -> Detection:
        return Detection(self.name, None if step is None else int(step), node, value, message,
                         self.category, float(max(0.0, min(1.0, strength))), details)


def _check_symptom(cls: type[Symptom]) -> None:
    if not cls.name or cls.category not in CATEGORIES:
        raise ValueError(f"bad symptom class {cls.__name__}")


#: every symptom class by name (filled by ``@register`` as the symptom modules are imported).
REGISTRY: Registry[type[Symptom]] = Registry("symptom", check=_check_symptom)
register = REGISTRY.register


# ---------------------------------------------------------------- series helpers
# MIN_STEPS (faultlens.taxonomy): fewer recorded loss values than this: curve symptoms do not judge


def finite(s: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m = np.isfinite(v)
    return s[m], v[m]


def chunk_means(v: np.ndarray, n_windows: int) -> np.ndarray:
    """Means of ``n_windows`` consecutive, near-equal chunks (fewer when v is short)."""
    n_windows = max(1, min(n_windows, len(v)))
    return np.array([c.mean() for c in np.array_split(v, n_windows) if len(c)])


def integer_targets(tv: TraceView) -> bool:
    """The targets were of an integer dtype (class indices) in the median record."""
    _, isint = finite(*tv.series("target_is_int"))
    return bool(len(isint)) and float(np.median(isint)) == 1.0


def head_tail(v: np.ndarray, head: float = 0.1, tail: float = 0.2, min_pts: int = 3) -> tuple[float, float]:
    n = len(v)
    h = max(min_pts, int(round(n * head)))
    t = max(min_pts, int(round(n * tail)))
    return float(np.mean(v[:h])), float(np.mean(v[-t:]))


def judged(s: np.ndarray, v: np.ndarray, after: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """The part of a series after the first ``after`` fraction of the run (AUTOTRAINER judges
    oscillation and slow convergence only after 30% of training)."""
    if len(s) == 0:
        return s, v
    cut = s.min() + after * (s.max() - s.min())
    m = s >= cut
    return s[m], v[m]


def epoch_means(tv: TraceView, s: np.ndarray, v: np.ndarray, min_windows: int = 8) -> np.ndarray:
    """Loss averaged per epoch when the trace has ``epoch`` events, at least ``min_windows``
    epochs and two steps or more per epoch on average; otherwise per chunk of >= 5 steps (at
    most 30 chunks)."""
    starts = sorted({e.step for e in tv.events if e.event == "epoch"})
    if len(starts) >= min_windows:
        idx = np.searchsorted(np.asarray(starts), s, side="right")
        out = [v[idx == i].mean() for i in np.unique(idx) if np.any(idx == i)]
        # an "epoch" of one step (a loop over batches drawn one at a time, read as the epoch
        # loop) averages nothing: its means are the raw per-step losses, so chunk instead
        if len(out) >= min_windows and len(v) >= 2 * len(out):
            return np.asarray(out)
    n_w = int(min(30, max(1, len(v) // 5)))
    return chunk_means(v, n_w)


def fmt(x: Any) -> str:
    if isinstance(x, float):
        if not math.isfinite(x):
            return str(x)
        return f"{x:.3g}"
    return str(x)


def adversarial_training(tv: TraceView) -> str | None:
    """A description when the run trains models against each other (a GAN), else None.

    Signature, from the trace alone: two or more optimizers stepped, there are at least two
    backward passes per iteration (one objective per player), and among the models called
    with gradients on, some produce a loss input (the discriminator) while another never does
    (the generator, trained only through the discriminator's output). An encoder/decoder pair
    with one backward per iteration, or several independent nets that each feed their own
    loss, do not match. In a minimax game the discriminator's loss tends to a constant
    (log 4 at the equilibrium, Goodfellow et al. 2014, "Generative Adversarial Nets") and the
    generator's rises whenever the discriminator improves, so the loss-trend symptoms are not
    evidence there; the symptoms of missing updates, non-finite values and gradients still are."""
    stepped = [n for n in tv.nodes("opt_step") if len(tv.series("opt_step", n)[0])]
    if len(stepped) < 2 or tv.steps < MIN_STEPS:
        return None
    backwards = sum(1 for e in tv.events if e.event == "backward")
    if backwards < 1.5 * tv.steps:
        return None
    trained = {e.node for e in tv.events if e.event == "forward" and e.node}
    feeders = set(tv.nodes("feeds_loss"))
    if trained & feeders and trained - feeders:
        return (f"{len(stepped)} optimizers, {backwards / tv.steps:.1f} backward passes an iteration, "
                f"{len(trained - feeders)} model(s) trained only through another model's output")
    return None
