"""faultlens: find why a PyTorch training program fails and where in the source the fault is.

Pipeline (one entry function per stage, plain data between stages)::

    source -> analyzer.build_graph -> ProgramGraph
           -> instrumenter.run_program -> Trace
           -> models.diagnose -> Diagnosis
           -> localizer.localize -> faults with statements and patches
           -> report (text / JSON / SARIF / HTML)

The public names below are imported lazily so that ``import faultlens`` stays cheap
(``faultlens lint`` must not import torch or scikit-learn).
"""
from __future__ import annotations

from faultlens._lazy import lazy_exports

__version__ = "0.1.0"

_LAZY = {
    "build_graph": "faultlens.analyzer",
    "ProgramGraph": "faultlens.analyzer.graph",
    "lint": "faultlens.analyzer.lint",
    "instrument": "faultlens.instrumenter",
    "run_program": "faultlens.instrumenter",
    "load_trace": "faultlens.instrumenter.trace",
    "Trace": "faultlens.instrumenter.trace",
    "diagnose": "faultlens.models",
    "localize": "faultlens.localizer",
    "Report": "faultlens.report",
    "analyze": "faultlens.api",
    "run": "faultlens.api",
    "RunConfig": "faultlens.runconfig",
}

__all__ = sorted(_LAZY) + ["__version__"]

__getattr__, _ = lazy_exports(__name__, _LAZY)
