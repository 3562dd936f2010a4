"""Terminal rendering of a report: verdict, top faults with the source in context, the patch
and a short "why" with the key numbers."""
from __future__ import annotations

import math
import os
from typing import Any

from faultlens.analyzer.pysyntax import split_lines

_COLORS = {"healthy": "32", "faulty": "31", "crashed": "35", "inconclusive": "33"}


#: context symptoms that a healthy report shows as advice
ADVICE = ("could_train_longer",)

#: how the text report names a stop that cut the run short (schema ``STOP_REASONS``)
STOPPED = {
    "max_steps": "stopped at the step limit (--max-steps)",
    "max_seconds": "stopped at the time limit (--max-seconds)",
    "max_seconds_hard": "stopped at the time limit (--max-seconds) while between steps",
    "max_seconds_analysis": "stopped at the time limit (--max-seconds) during the static analysis, "
                            "before the program ran",
    "nonfinite_loss": "stopped early: the training loss stayed non-finite",
    "settled": "stopped early: the diagnosis was settled",
}


def _c(text: str, code: str, on: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if on else text


def _where(d: Any) -> str:
    """``path:line``, or ``nb.ipynb:cell 7:line 3`` for a location in a notebook's cell."""
    get = d.get if isinstance(d, dict) else (lambda k: getattr(d, k, None))
    if get("cell"):
        return f"{get('path')}:cell {get('cell')}:line {get('cell_line')}"
    return f"{get('path')}:{get('line')}"


def _source_context(path: str, line: int, context: int, abspath: str = "") -> list[str]:
    p = abspath or path
    if p.lower().endswith(".ipynb"):  # the lines of the cell, numbered within it
        from faultlens.notebook import cell_context
        return [f"      {'>' if cur else ' '} {n:>{w}} | {t}" for n, t, cur, w in cell_context(p, line, context)]
    try:
        with open(p, encoding="utf-8") as fh:
            lines = split_lines(fh.read())
    except OSError:
        return []
    out = []
    lo, hi = max(1, line - context), min(len(lines), line + context)
    width = len(str(hi))
    for i in range(lo, hi + 1):
        mark = ">" if i == line else " "
        out.append(f"      {mark} {i:>{width}} | {lines[i - 1]}")
    return out


def _num(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    if isinstance(v, list):
        return "[" + ", ".join(_num(x) for x in v) + "]"
    return str(v)


def _why(report: Any) -> list[str]:
    out = []
    d = report.diagnosis
    if d is not None:
        n = sum(1 for s in report.symptoms if s.get("category") != "context")
        basis = "the program raised" if report.verdict == "crashed" else f"{n} failure/defect symptom(s)"
        out.append(f"P(faulty) = {report.p_faulty:.2f} from {basis}; {len(report.lint)} lint finding(s); "
                   f"{report.steps} steps in {report.seconds:.1f} s")
    curves = (report.plots or {}).get("curves", {})
    if "loss" in curves:
        steps = curves["loss"][0]
        pts = [(s, v) for s, v in zip(steps, curves["loss"][1]) if v is not None]
        if pts:
            # the recorded values themselves (what the program's own log shows), not averages
            lo = min(pts, key=lambda p: p[1])
            out.append(f"loss: first {pts[0][1]:.4g} (step {pts[0][0]}) -> last {pts[-1][1]:.4g} "
                       f"(step {pts[-1][0]}), min {lo[1]:.4g} (step {lo[0]}), over {len(curves['loss'][1])} records")
    if "accuracy" in curves:
        pts = [(s, v) for s, v in zip(curves["accuracy"][0], curves["accuracy"][1]) if v is not None]
        if pts:
            # the probes sample batches: say which step the figure is from
            out.append(f"train accuracy: {pts[-1][1]:.3f} at step {pts[-1][0]} (last of {len(pts)} sampled batches)")
    stab = (report.plots or {}).get("stability", {})
    if stab.get("lambda_max*lr"):
        vals = [v for v in stab["lambda_max*lr"][1] if v is not None]
        if vals:
            lim = stab.get("limit")
            limv = [v for v in lim[1] if v is not None] if lim else []
            out.append(f"lambda_max*lr: last {vals[-1]:.3g} vs stability limit {limv[-1] if limv else 2:.3g}")
    return out


def render_text(report: Any, color: bool = False, context: int = 1) -> str:
    L: list[str] = []
    v = report.verdict
    L.append(f"faultlens: {report.program}: {_c(v.upper(), _COLORS.get(v, '0'), color)}"
             + (f" (confidence {report.p_faulty:.2f})" if v == "faulty" else ""))
    stopped = STOPPED.get(report.stop_reason or "")
    if stopped and report.stop_reason == "max_seconds_analysis":
        L.append(f"  run: {stopped}")
    elif report.stop_reason == "settled" and report.settled and report.status != "crashed":
        st = report.settled
        L.append(f"  run: stopped at step {st.get('step')}: the diagnosis was settled ({st.get('why')}); "
                 f"the diagnosis judges this prefix of the run ({report.steps} step(s) in {report.seconds:.1f} s; "
                 "--no-early-stop runs to the end)")
    elif stopped and report.status != "crashed":
        L.append(f"  run: {stopped} after {report.steps} step(s) in {report.seconds:.1f} s; "
                 "the diagnosis judges this prefix of the run")
    if report.crash:
        c = report.crash
        where = f" at {_where(c)}" if c.get("line") else ""
        L.append(f"  crashed{where}: {c.get('type')}: {c.get('message')}")
        if c.get("category"):
            L.append(f"  crash kind: {c['category']} (not a training fault)")
    for n in report.notes:
        L.append(f"  note: {n}")
    for i, f in enumerate(report.faults[:3], start=1):
        L.append("")
        L.append(f"{i}. {_c(f.type, '1', color)}  confidence {f.confidence:.2f}")
        L.append(f"   {f.summary}")
        for loc in f.locations[:4]:
            L.append(f"   {_where(loc)}:{loc.column}  [{loc.role}]")
            if i == 1:
                L.extend(_source_context(loc.path, loc.line, context, getattr(loc, "abspath", "")))
        for e in f.evidence[:4]:
            where = f" at step {e.get('step')}" if e.get("step") is not None else ""
            node = f" on {e.get('node')}" if e.get("node") else ""
            L.append(f"   - {e.get('symptom')}{where}{node}: {_num(e.get('value'))}")
        if f.patch is not None and i == 1:
            L.append("   patch: " + f.patch.description + (
                (" (verified)" if f.patch.verified else " (NOT verified)") if f.patch.verified is not None else
                " (checked: a patched copy starts training; not verified)" if getattr(f.patch, "checked", None)
                else " (unverified)"))
            ver = f.patch.verification or {}
            if ver.get("summary"):
                L.append("   verify: " + ver["summary"])
            L.extend("   " + ln for ln in f.patch.diff.rstrip("\n").splitlines())
    if v == "healthy":
        L.append("  no failure or defect symptoms: training behaves normally.")
        for a in (s for s in report.symptoms if s.get("symptom") in ADVICE):
            L.append(f"  advice: {a.get('message', a['symptom'])}")
    why = _why(report)
    if why:
        L.append("")
        L.append("why:")
        L.extend("  " + w for w in why)
    ctx = [s for s in report.symptoms if s.get("category") == "context"]
    if ctx and v != "healthy":
        L.append("  context: " + "; ".join(s.get("message", s["symptom"]) for s in ctx[:4]))
    if report.trace:
        L.append(f"trace: {os.path.relpath(report.trace) if not report.trace.startswith('..') else report.trace}")
    return "\n".join(L) + "\n"
