"""A self-contained HTML report: inline SVG plots (no external assets, no scripts), the
faults with their locations and the annotated diff."""
from __future__ import annotations

import html
import math
from typing import Any

_PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
            "#7f7f7f", "#bcbd22", "#393b79", "#637939"]
W, H, PAD_L, PAD_R, PAD_T, PAD_B = 560, 240, 56, 12, 24, 30


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def svg_plot(title: str, series: dict[str, Any], *, logy: bool = False, hline: float | None = None,
             hline_label: str = "") -> str:
    """A line plot of ``{label: (steps, values)}`` as an inline SVG string."""
    pts = {}
    for label, xy in series.items():
        if not xy:
            continue
        xs, ys = xy
        p = [(float(x), float(y)) for x, y in zip(xs, ys) if _finite(y) and (not logy or y > 0)]
        if p:
            pts[label] = p
    esc = html.escape
    if not pts:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="60" role="img">'
                f'<text x="8" y="20" font-size="13">{esc(title)}: not recorded</text></svg>')
    tr = (lambda y: math.log10(y)) if logy else (lambda y: y)
    allx = [x for p in pts.values() for x, _ in p]
    ally = [tr(y) for p in pts.values() for _, y in p]
    if hline is not None and (not logy or hline > 0):
        ally.append(tr(hline))
    x0, x1 = min(allx), max(allx)
    y0, y1 = min(ally), max(ally)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y1, y0 = y0 + 0.5, y0 - 0.5

    def sx(x):
        return PAD_L + (x - x0) / (x1 - x0) * (W - PAD_L - PAD_R)

    def sy(y):
        return PAD_T + (1 - (tr(y) - y0) / (y1 - y0)) * (H - PAD_T - PAD_B)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img">',
           f'<title>{esc(title)}</title>',
           f'<rect x="{PAD_L}" y="{PAD_T}" width="{W - PAD_L - PAD_R}" height="{H - PAD_T - PAD_B}" fill="#fafafa" stroke="#ccc"/>',
           f'<text x="{PAD_L}" y="16" font-size="13" font-weight="bold">{esc(title)}</text>']
    for frac in (0.0, 0.5, 1.0):
        yv = y0 + frac * (y1 - y0)
        lab = f"{10 ** yv:.3g}" if logy else f"{yv:.3g}"
        yy = PAD_T + (1 - frac) * (H - PAD_T - PAD_B)
        out.append(f'<text x="{PAD_L - 4}" y="{yy + 4:.1f}" font-size="10" text-anchor="end">{lab}</text>')
    out.append(f'<text x="{PAD_L}" y="{H - 10}" font-size="10">step {x0:g}</text>')
    out.append(f'<text x="{W - PAD_R}" y="{H - 10}" font-size="10" text-anchor="end">step {x1:g}</text>')
    if hline is not None and (not logy or hline > 0):
        yy = sy(hline)
        out.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#000" stroke-dasharray="4 3"/>')
        out.append(f'<text x="{W - PAD_R - 2}" y="{yy - 3:.1f}" font-size="10" text-anchor="end">{esc(hline_label)}</text>')
    for i, (label, p) in enumerate(pts.items()):
        col = _PALETTE[i % len(_PALETTE)]
        if len(p) > 600:  # thin long series
            step = len(p) / 600
            p = [p[int(k * step)] for k in range(600)]
        path = " ".join(f"{'M' if j == 0 else 'L'}{sx(x):.1f},{sy(y):.1f}" for j, (x, y) in enumerate(p))
        out.append(f'<path d="{path}" fill="none" stroke="{col}" stroke-width="1.4"/>')
        out.append(f'<text x="{PAD_L + 6 + (i % 3) * 170}" y="{PAD_T + 12 + (i // 3) * 12}" font-size="10" fill="{col}">'
                   f'{esc(label[:40])}</text>')
    out.append("</svg>")
    return "".join(out)


_CSS = """body{font-family:system-ui,sans-serif;margin:24px;max-width:1200px;color:#222}
h1{font-size:20px} h2{font-size:17px;margin-top:28px} .v-healthy{color:#2a7} .v-faulty{color:#c22}
.v-crashed{color:#a2a} .v-inconclusive{color:#b80} pre{background:#f6f6f6;padding:8px;overflow-x:auto;font-size:12px}
.add{color:#070} .del{color:#a00} .hunk{color:#55a} .note{color:#777} table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #ddd;padding:3px 6px;text-align:left} .plots{display:flex;flex-wrap:wrap;gap:12px}"""


def _diff_html(diff: str) -> str:
    out = []
    for ln in diff.splitlines():
        e = html.escape(ln)
        if ln.startswith("+") and not ln.startswith("+++"):
            out.append(f'<span class="add">{e}</span>')
        elif ln.startswith("-") and not ln.startswith("---"):
            out.append(f'<span class="del">{e}</span>')
        elif ln.startswith("@@"):
            out.append(f'<span class="hunk">{e}</span>')
        elif ln.startswith("faultlens:"):
            out.append(f'<span class="note">{e}</span>')
        else:
            out.append(e)
    return "<pre>" + "\n".join(out) + "</pre>"


def render_html(report: Any) -> str:
    esc = html.escape
    d = report.to_dict()
    plots = report.plots or {}
    v = d["verdict"]
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>faultlens report: {esc(d['program'])}</title><style>{_CSS}</style></head><body>",
             f"<h1>faultlens: {esc(d['program'])} &mdash; <span class=\"v-{esc(v)}\">{esc(v.upper())}</span></h1>",
             f"<p>{d['steps']} steps in {d['seconds']:.1f} s; P(faulty) = {d['p_faulty']:.2f}"
             + (f"; trace <code>{esc(str(d['trace']))}</code>" if d.get("trace") else "") + "</p>"]
    if d.get("crash"):
        c = d["crash"]
        parts.append(f"<p>Crashed at <code>{esc(str(c.get('path')))}:{c.get('line')}</code>: "
                     f"{esc(str(c.get('type')))}: {esc(str(c.get('message')))}</p>")
    parts.append("<h2>Faults</h2>")
    if not d["faults"]:
        parts.append("<p>No fault diagnosed.</p>")
    for i, f in enumerate(report.faults, start=1):
        fd = f.to_dict()
        parts.append(f"<h3>{i}. {esc(fd['type'])} (confidence {fd['confidence']:.2f})</h3><p>{esc(fd['summary'])}</p>")
        if fd["locations"]:
            parts.append("<table><tr><th>location</th><th>role</th><th>node</th></tr>")
            for l in fd["locations"]:
                parts.append(f"<tr><td><code>{esc(l['path'])}:{l['line']}:{l['column']}</code></td>"
                             f"<td>{esc(l['role'])}</td><td><code>{esc(str(l['node'] or ''))}</code></td></tr>")
            parts.append("</table>")
        if fd["evidence"]:
            parts.append("<ul>" + "".join(
                f"<li>{esc(str(e['symptom']))} at step {esc(str(e['step']))} on <code>{esc(str(e['node']))}</code>: "
                f"{esc(str(e['value']))}</li>" for e in fd["evidence"][:6]) + "</ul>")
        if f.patch is not None:
            ver = "" if f.patch.verified is None else (" &mdash; verified" if f.patch.verified else " &mdash; not verified")
            parts.append(f"<p><b>Patch:</b> {esc(f.patch.description)}{ver}</p>")
            parts.append(_diff_html(f.patch.diff))
    parts.append("<h2>Training curves</h2><div class=\"plots\">")
    curves = plots.get("curves", {})
    parts.append(svg_plot("loss", {k: curves[k] for k in ("loss", "val_loss") if k in curves}))
    parts.append(svg_plot("accuracy", {k: curves[k] for k in ("accuracy", "val_accuracy") if k in curves}))
    parts.append(svg_plot("per-layer gradient norm (log)", plots.get("grad_norm", {}), logy=True))
    parts.append(svg_plot("dead (zero) / saturated fractions", plots.get("dead_saturated", {}), hline=0.7,
                          hline_label="0.7"))
    stab = plots.get("stability", {})
    lim = 2.0
    if stab.get("limit"):
        vals = [x for x in stab["limit"][1] if _finite(x)]
        lim = vals[-1] if vals else 2.0
    parts.append(svg_plot("lambda_max * lr vs stability limit", {"lambda_max*lr": stab.get("lambda_max*lr")},
                          hline=lim, hline_label=f"limit {lim:.3g}"))
    parts.append("</div>")
    if d["symptoms"]:
        parts.append("<h2>Symptoms</h2><table><tr><th>symptom</th><th>category</th><th>step</th><th>node</th><th>value</th>"
                     "<th>message</th></tr>")
        for s in d["symptoms"]:
            parts.append(f"<tr><td>{esc(s['symptom'])}</td><td>{esc(str(s.get('category')))}</td><td>{esc(str(s['step']))}</td>"
                         f"<td><code>{esc(str(s['node']))}</code></td><td>{esc(str(s['value']))}</td>"
                         f"<td>{esc(str(s.get('message', '')))}</td></tr>")
        parts.append("</table>")
    if d["lint"]:
        parts.append("<h2>Lint</h2><ul>" + "".join(
            f"<li><code>{esc(str(x.get('path')))}:{x.get('line')}</code> {esc(str(x.get('code')))} "
            f"{esc(str(x.get('message')))}</li>" for x in d["lint"]) + "</ul>")
    diff = report.combined_diff()
    if diff:
        parts.append("<h2>Annotated diff</h2>" + _diff_html(diff))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
