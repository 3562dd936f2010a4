"""Models stage: symptoms, features, classifiers -> :class:`Diagnosis`.

``diagnose(trace, graph, lint=None) -> Diagnosis`` (see :mod:`faultlens.models.diagnosis` and
docs/diagnosis.md). Names are imported lazily so that importing a sub-module (e.g. the CLI's
``faultlens.models.commands``) stays cheap.
"""
from __future__ import annotations

from faultlens._lazy import lazy_exports

_LAZY = {
    "diagnose": "faultlens.models.diagnosis",
    "Diagnosis": "faultlens.models.diagnosis",
    "FaultCandidate": "faultlens.models.diagnosis",
    "Evidence": "faultlens.models.diagnosis",
    "FAULT_TYPES": "faultlens.taxonomy",
    "VERDICTS": "faultlens.taxonomy",
    "Detection": "faultlens.models.symptoms",
    "detect_all": "faultlens.models.symptoms",
}

__all__ = sorted(_LAZY)

__getattr__, _ = lazy_exports(__name__, _LAZY)
