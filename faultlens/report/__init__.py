"""The report: verdict, ranked faults with source locations, evidence and patches.

``Report.to_dict()`` follows the ``faultlens.report/1`` contract (docs/report.md)::

    {"schema": "faultlens.report/1", "program", "verdict", "faults": [{"type", "confidence",
     "summary", "locations": [{"path", "line", "column", "end_line", "end_column", "node",
     "role"}], "evidence": [{"symptom", "step", "node", "value"}], "patch": {"description",
     "diff", "verified"} | null}], "symptoms", "lint", "steps", "seconds", "trace"}

plus added keys (``p_faulty``, ``status``, ``crash``, ``run_dir``, ``notes``). Renderers:
:meth:`Report.to_text`, :meth:`Report.to_sarif`, :meth:`Report.to_html`.
This module imports only the standard library (the renderers import numpy lazily).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

SCHEMA = "faultlens.report/1"

__all__ = ["SCHEMA", "Report", "ReportFault", "build_report"]


@dataclass
class ReportFault:
    type: str
    confidence: float
    summary: str
    locations: list[Any] = field(default_factory=list)   # faultlens.localizer.Location
    evidence: list[dict[str, Any]] = field(default_factory=list)
    patch: Any = None                                   # faultlens.localizer.patches.Patch | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "confidence": round(float(self.confidence), 4),
            "summary": self.summary,
            "locations": [l.to_dict() if hasattr(l, "to_dict") else dict(l) for l in self.locations],
            "evidence": list(self.evidence),
            "patch": self.patch.to_dict() if self.patch is not None else None,
        }


@dataclass
class Report:
    program: str
    verdict: str
    faults: list[ReportFault] = field(default_factory=list)
    symptoms: list[dict[str, Any]] = field(default_factory=list)
    lint: list[dict[str, Any]] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    trace: str | None = None
    p_faulty: float = 0.0
    status: str = "finished"
    #: why the run ended (``faultlens.instrumenter.schema.STOP_REASONS``, or exit/crash/interrupted)
    stop_reason: str | None = None
    #: the settled early stop's rule ({rule, step, since_step, why}) when stop_reason is "settled"
    settled: dict[str, Any] | None = None
    crash: dict[str, Any] | None = None
    run_dir: str | None = None
    notes: list[str] = field(default_factory=list)
    #: the figures measured on sampled steps only (``faultlens.report.build.sampled_figures``):
    #: {seeded, sample_every, steps, of_steps, families, metrics}; None when there were none
    sampled: dict[str, Any] | None = None
    #: plot data for the HTML report (not part of to_dict): {name: {label: (steps, values)}}
    plots: dict[str, Any] = field(default_factory=dict, repr=False)
    diagnosis: Any = field(default=None, repr=False)

    @property
    def top(self) -> ReportFault | None:
        return self.faults[0] if self.faults else None

    @property
    def judged_prefix(self) -> bool:
        """A limit or the settled early stop ended the run: the diagnosis judged a prefix."""
        return self.status == "cut_short" and self.stop_reason is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "program": self.program,
            "verdict": self.verdict,
            "faults": [f.to_dict() for f in self.faults],
            "symptoms": list(self.symptoms),
            "lint": list(self.lint),
            "steps": int(self.steps),
            "seconds": round(float(self.seconds), 3),
            "trace": self.trace,
            "p_faulty": round(float(self.p_faulty), 4),
            "status": self.status,
            "stop_reason": self.stop_reason,
            "settled": dict(self.settled) if self.settled else None,
            "judged_prefix": self.judged_prefix,
            "crash": _crash_public(self.crash),
            "run_dir": self.run_dir,
            "notes": list(self.notes),
            "sampled": dict(self.sampled) if self.sampled else None,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=str)

    def to_text(self, color: bool = False, context: int = 1) -> str:
        from faultlens.report.text import render_text
        return render_text(self, color=color, context=context)

    def to_sarif(self) -> dict[str, Any]:
        from faultlens.report.sarif import render_sarif
        return render_sarif(self)

    def to_html(self) -> str:
        from faultlens.report.html import render_html
        return render_html(self)

    def combined_diff(self) -> str:
        """All patches as one annotated diff (at most one patch per file: the best-ranked)."""
        seen: set[str] = set()
        parts = []
        for f in self.faults:
            p = f.patch
            if p is None or not p.diff or p.path in seen:
                continue
            seen.add(p.path)
            parts.append(p.diff)
        return "".join(parts)


def _crash_public(c: dict[str, Any] | None) -> dict[str, Any] | None:
    if not c:
        return None
    return {k: c.get(k) for k in ("kind", "category", "type", "message", "path", "line", "cell", "cell_line",
                                  "column", "node", "step")
            if k in c}


def failure_note(stage: str, exc: BaseException, subject: str | None = None) -> str:
    """The report's note for a stage of faultlens's own that failed (the report goes on without
    its part): ``localization failed (learning_rate): ValueError: ...``."""
    about = f" ({subject})" if subject else ""
    return f"{stage} failed{about}: {type(exc).__name__}: {exc}"


def build_report(*args: Any, **kwargs: Any) -> Report:
    from faultlens.report.build import build_report as _b
    return _b(*args, **kwargs)
