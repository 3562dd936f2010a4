"""Assemble a :class:`~faultlens.report.Report` from a diagnosis: localize every fault, make
its patch, collect the plot series for the HTML report."""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from faultlens.report import Report, ReportFault


def plot_series(tv: Any) -> dict[str, Any]:
    """The curves the HTML report draws: {plot: {label: (steps list, values list)}}."""
    def xy(metric: str, node: str) -> tuple[list[int], list[float | None]]:
        s, v = tv.series(metric, node)
        return [int(x) for x in s], [float(x) if np.isfinite(x) else None for x in v]

    out: dict[str, Any] = {}
    curves = {}
    for m in ("loss", "val_loss", "accuracy", "val_accuracy"):
        for n in tv.nodes(m)[:1]:
            curves[m] = xy(m, n)
    out["curves"] = curves
    out["grad_norm"] = {n.split(":")[-1]: xy("grad_norm", n) for n in tv.nodes("grad_norm")[:12] if n}
    out["dead_saturated"] = {**{f"zero {n.split(':')[-1]}": xy("act_zero_frac", n) for n in tv.nodes("act_zero_frac")[:6] if n},
                             **{f"sat {n.split(':')[-1]}": xy("act_sat_frac", n) for n in tv.nodes("act_sat_frac")[:6] if n}}
    stab = {}
    for n in tv.nodes("lambda_max_lr")[:1]:
        stab["lambda_max*lr"] = xy("lambda_max_lr", n)
        lim = tv.series("stability_limit", n)
        stab["limit"] = xy("stability_limit", n) if len(lim[0]) else None
    out["stability"] = stab
    return out


def build_report(program: str, diagnosis: Any, graph: Any, trace: Any, *, seconds: float = 0.0,
                 trace_path: str | None = None, run_dir: str | None = None, cwd: str | None = None,
                 patches: bool = True) -> Report:
    from faultlens.localizer import localize
    from faultlens.localizer.patches import make_patch
    from faultlens.models.symptoms import TraceView

    tv = TraceView.of(trace) if trace is not None else None
    faults: list[ReportFault] = []
    for i, f in enumerate(diagnosis.faults):
        crash = diagnosis.crash if i == 0 else None
        try:
            locs = localize(f, graph, crash=crash, cwd=cwd, program=program)
        except Exception:
            locs = []
        patch = None
        if patches and diagnosis.verdict == "faulty":
            try:
                patch = make_patch(f, graph, trace=tv, locations=locs, cwd=cwd)
            except Exception:
                patch = None
        faults.append(ReportFault(f.type, f.confidence, f.summary, locs, [e.to_dict() for e in f.evidence], patch))
    rep = Report(
        program=program, verdict=diagnosis.verdict, faults=faults,
        symptoms=[d.to_dict() for d in diagnosis.symptoms],
        lint=[_lint_public(x) for x in diagnosis.lint],
        steps=int(diagnosis.steps), seconds=float(seconds), trace=trace_path,
        p_faulty=float(diagnosis.p_faulty), status=diagnosis.status, crash=diagnosis.crash,
        stop_reason=(tv.meta.get("stop_reason") if tv is not None else None),
        run_dir=run_dir, notes=list(diagnosis.notes), diagnosis=diagnosis,
    )
    if tv is not None:
        try:
            rep.plots = plot_series(tv)
        except Exception:
            rep.plots = {}
    return rep


def _lint_public(d: dict[str, Any]) -> dict[str, Any]:
    keep = ("code", "name", "severity", "message", "path", "line", "column", "end_line", "end_column", "node",
            "fault_type", "ran")
    return {k: d.get(k) for k in keep if k in d}

