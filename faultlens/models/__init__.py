"""Models stage: symptoms, features, classifiers -> :class:`Diagnosis`.

``diagnose(trace, graph, lint=None) -> Diagnosis`` (see :mod:`faultlens.models.diagnosis` and
docs/diagnosis.md). Names are imported lazily so that importing a sub-module (e.g. the CLI's
``faultlens.models.commands``) stays cheap.
"""
from __future__ import annotations

import importlib

_LAZY = {
    "diagnose": "faultlens.models.diagnosis",
    "Diagnosis": "faultlens.models.diagnosis",
    "FaultCandidate": "faultlens.models.diagnosis",
    "Evidence": "faultlens.models.diagnosis",
    "FAULT_TYPES": "faultlens.models.diagnosis",
    "VERDICTS": "faultlens.models.diagnosis",
    "Detection": "faultlens.models.symptoms",
    "detect_all": "faultlens.models.symptoms",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    modname = _LAZY.get(name)
    if modname is None:
        raise AttributeError(f"module 'faultlens.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(modname), name)
    globals()[name] = value
    return value
