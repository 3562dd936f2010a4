"""Assemble a :class:`~faultlens.report.Report` from a diagnosis and its localized faults
(``faultlens.report.pipeline`` localizes and patches them): the plot series for the HTML
report, the figures measured on sampled steps only."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from faultlens.report import Report, ReportFault, failure_note


def plot_series(tv: Any) -> dict[str, Any]:
    """The curves the HTML report draws: {plot: {label: (steps list, values list)}}."""
    def xy(metric: str, node: str) -> tuple[list[int], list[float | None]]:
        s, v = tv.series(metric, node)
        return [int(x) for x in s], [float(x) if np.isfinite(x) else None for x in v]

    out: dict[str, Any] = {}
    curves = {}
    for m in ("loss", "val_loss", "accuracy", "val_accuracy"):
        ns = tv.nodes(m)
        if not ns:
            continue
        # several loss nodes (a second criterion, a GAN's two losses): the one the symptoms
        # judge, the longest series, not the first name in sorted order
        curves[m] = xy(m, max(ns, key=lambda n: len(tv.series(m, n)[0])))
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


def build_report(program: str, diagnosis: Any, faults: list[ReportFault], trace: Any, *, seconds: float = 0.0,
                 trace_path: str | None = None, run_dir: str | None = None, notes: Sequence[str] = ()) -> Report:
    """The report of ``diagnosis`` with its localized and patched ``faults``
    (``faultlens.report.pipeline.localize_faults``), the plot series and the sampled figures of
    ``trace``. ``notes``: the pipeline's stages that failed, after the diagnosis's own notes."""
    from faultlens.models.symptoms import TraceView

    tv = TraceView.of(trace) if trace is not None else None
    rep = Report(
        program=program, verdict=diagnosis.verdict, faults=list(faults),
        symptoms=[d.to_dict() for d in diagnosis.symptoms],
        lint=[_lint_public(x) for x in diagnosis.lint],
        steps=int(diagnosis.steps), seconds=float(seconds), trace=trace_path,
        p_faulty=float(diagnosis.p_faulty), status=diagnosis.status, crash=diagnosis.crash,
        stop_reason=(tv.meta.get("stop_reason") if tv is not None else None),
        settled=(tv.meta.get("settled") if tv is not None and isinstance(tv.meta.get("settled"), dict) else None),
        run_dir=run_dir, notes=[*diagnosis.notes, *notes], diagnosis=diagnosis,
    )
    if tv is not None:
        try:
            rep.plots = plot_series(tv)
        except Exception as exc:  # noqa: BLE001 - the report goes out without its plots, and says so
            rep.plots = {}
            rep.notes.append(failure_note("the report's plots", exc))
        try:
            rep.sampled = sampled_figures(tv)
        except Exception as exc:  # noqa: BLE001 - the report goes out without the sampled-figures summary
            rep.sampled = None
            rep.notes.append(failure_note("the sampled-figures summary", exc))
        if rep.sampled and not rep.sampled["seeded"]:
            rep.notes.append(sampled_note(rep.sampled))
    return rep


#: trace metric prefix -> the family of figures the report names (first match wins)
_FAMILIES = (
    (("lambda_max", "hessian", "stability", "sharpness", "curvature"), "curvature"),
    (("grad_",), "gradient statistics"),
    (("act_", "feeds_loss"), "activation statistics"),
    (("weight_", "update_ratio"), "weight norms and update ratios"),
    (("input_", "target_", "loss_input_", "val_input_"), "input and target statistics"),
    (("accuracy", "val_"), "accuracy and evaluation figures"),
    (("beta", "momentum", "weight_decay", "eps"), "optimizer state"),
)


def _family(metric: str) -> str:
    for prefixes, name in _FAMILIES:
        if metric.startswith(prefixes):
            return name
    return metric


def sampled_figures(tv: Any) -> dict[str, Any] | None:
    """Which figures come from sampled steps only: every metric recorded on fewer steps than the
    training loss (the loss, the lr and the step count are recorded at every step). The probes
    sample every ``sample_every``-th step; without ``--seed`` a sampled step is postponed while
    the probes are over their time budget, so which steps these figures come from (and so their
    values) depends on the machine's speed and differs between runs of the same program."""
    loss_steps, _ = tv.loss()
    every = set(int(x) for x in loss_steps)
    if not every:
        return None
    metrics: list[str] = []
    sampled_steps: set[int] = set()
    for m in tv.metrics():
        steps: set[int] = set()
        for _, (st, _v) in tv.all_series(m).items():
            steps.update(int(x) for x in st)
        if steps and len(steps & every) < len(every):
            metrics.append(m)
            sampled_steps |= steps & every
    if not metrics:
        return None
    families: list[str] = []
    for m in metrics:
        f = _family(m)
        if f not in families:
            families.append(f)
    meta = getattr(tv, "meta", {}) or {}
    return {"seeded": bool(meta.get("deterministic")), "sample_every": meta.get("sample_every"),
            "steps": len(sampled_steps), "of_steps": len(every), "families": families,
            "metrics": sorted(metrics)}


def sampled_note(s: dict[str, Any]) -> str:
    every = f"every {s['sample_every']}th step, " if s.get("sample_every") else ""
    return (f"figures from sampled steps ({every}{s['steps']} of {s['of_steps']} steps): "
            f"{', '.join(s['families'])}; without --seed which steps are sampled depends on the "
            "machine's speed, so these figures (and what is judged from them) can differ between "
            "runs; the loss and the lr are recorded at every step")


def _lint_public(d: dict[str, Any]) -> dict[str, Any]:
    keep = ("code", "name", "severity", "message", "path", "line", "column", "end_line", "end_column", "node",
            "fault_type", "ran")
    return {k: d.get(k) for k in keep if k in d}

