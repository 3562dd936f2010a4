"""Symptom detectors: small classes in a registry, each with its threshold and source.

``detect_all(trace, graph)`` runs every registered symptom (or the ``select``-ed ones) and
returns the :class:`Detection` records sorted by step. Symptoms never raise: a detector that
fails on an odd trace is skipped and its error recorded in ``errors``.

Imports only numpy and the standard library.
"""
from __future__ import annotations

from typing import Any, Iterable

from faultlens.models.symptoms.base import CATEGORIES, REGISTRY, Detection, Symptom, register
from faultlens.models.symptoms.graph_facts import GraphFacts
from faultlens.models.symptoms.trace_view import Event, TraceView

# importing the symptom modules registers their classes (one discovery helper for every registry)
REGISTRY.discover(__name__)

__all__ = ["CATEGORIES", "REGISTRY", "Detection", "Symptom", "register", "GraphFacts", "TraceView", "Event",
           "detect_all"]


def detect_all(trace: Any, graph: Any = None, select: Iterable[str] | None = None,
               errors: list[str] | None = None) -> list[Detection]:
    tv = TraceView.of(trace)
    gf = GraphFacts.of(graph)
    names = list(select) if select is not None else list(REGISTRY)
    out: list[Detection] = []
    for name in names:
        cls = REGISTRY.get(name)
        if cls is None:
            raise KeyError(f"unknown symptom {name!r}")
        try:
            out.extend(cls().detect(tv, gf))
        except Exception as exc:  # a detector must not take the diagnosis down
            if errors is not None:
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
    out.sort(key=lambda d: (d.step if d.step is not None else 1 << 30, d.symptom))
    return out
