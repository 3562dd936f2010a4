"""Training the diagnosis models from a corpus (``faultlens model train``).

Two heads, both scikit-learn ``RandomForestClassifier`` (200 trees, 2 samples per leaf, NaN-aware splits for
missing features, class weights balanced):

* fault typing: runs of mutants labelled ``faulty`` or ``crash`` -> the mutant's fault type;
* instability triage: ``faulty``/``crash`` mutants (1) vs originals and ``equivalent``
  mutants (0).

Rows are runs (one trace each); the program name is the group for leave-program-out.
"""
from __future__ import annotations

import datetime as _dt
import math
import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from faultlens.corpus.export import Row
from faultlens.models.classifier import FEATURE_LIMIT
from faultlens.models.features import DROPPED_FEATURES, GROUPS, group_of
from faultlens.taxonomy import FAULT_TYPES

MIN_CLASS_ROWS = 6


@dataclass
class Dataset:
    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    names: list[str]
    rows: list[Row]


def feature_names(rows: Sequence[Row]) -> list[str]:
    names = sorted({k for r in rows for k in r.features} - DROPPED_FEATURES)
    # a feature that is NaN/constant everywhere carries nothing
    keep = []
    for n in names:
        vals = np.array([r.features.get(n, math.nan) for r in rows], dtype=float)
        fin = vals[np.isfinite(vals)]
        if len(fin) and (np.nanmax(fin) != np.nanmin(fin) or np.isnan(vals).any()):
            keep.append(n)
    return keep


def matrix(rows: Sequence[Row], names: Sequence[str]) -> np.ndarray:
    X = np.array([[r.features.get(n, math.nan) for n in names] for r in rows], dtype=float)
    return np.clip(X, -FEATURE_LIMIT, FEATURE_LIMIT)  # NaN stays NaN


def typing_dataset(rows: Sequence[Row], names: Sequence[str] | None = None) -> Dataset:
    sel = [r for r in rows if r.is_faulty and r.fault_type in FAULT_TYPES]
    counts: dict[str, int] = {}
    for r in sel:
        counts[r.fault_type] = counts.get(r.fault_type, 0) + 1
    sel = [r for r in sel if counts[r.fault_type] >= MIN_CLASS_ROWS]
    names = list(names) if names is not None else feature_names(sel)
    return Dataset(matrix(sel, names), np.array([r.fault_type for r in sel]), np.array([r.program for r in sel]),
                   names, sel)


def triage_dataset(rows: Sequence[Row], names: Sequence[str] | None = None) -> Dataset:
    sel = [r for r in rows if r.is_faulty or r.is_healthy]
    names = list(names) if names is not None else feature_names(sel)
    return Dataset(matrix(sel, names), np.array([1 if r.is_faulty else 0 for r in sel]),
                   np.array([r.program for r in sel]), names, sel)


def make_estimator(fast: bool = False, seed: int = 0):
    """Random forest (NaN-aware splits in scikit-learn >= 1.4), balanced class weights.

    HistGradientBoosting was tried first: on a few hundred rows and a dozen classes it spends
    most of its time in per-tree overhead (over 100 s per fit on the shared 2-core machine,
    against ~1.5 s for this forest), which makes cross-validation and ablations impractical."""
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(
        n_estimators=100 if fast else 200, min_samples_leaf=2, max_features="sqrt",
        class_weight="balanced", random_state=seed, n_jobs=1)


def select(names: Sequence[str], include: Sequence[str] | None = None, exclude: Sequence[str] | None = None) -> list[int]:
    idx = []
    for i, n in enumerate(names):
        g = group_of(n)
        if include is not None and g not in include:
            continue
        if exclude is not None and g in exclude:
            continue
        idx.append(i)
    return idx


def train(rows: Sequence[Row], metrics: dict[str, Any] | None = None, source: str = "") -> tuple[dict, dict]:
    """Fit both heads on all rows. Returns (bundle, card) for classifier.save_model."""
    from faultlens.errors import FaultlensError

    typing = typing_dataset(rows)
    if len(set(typing.y)) < 2:
        raise FaultlensError("the corpus has fewer than two fault types with enough faulty runs to train on")
    names = typing.names
    tri = triage_dataset(rows, names)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        est = make_estimator()
        est.fit(typing.X, typing.y)
        triage = None
        if len(set(tri.y)) == 2:
            triage = make_estimator()
            triage.fit(tri.X, tri.y)
    bundle = {"feature_names": names, "fault_types": list(FAULT_TYPES), "typing": est, "triage": triage}
    classes, counts = np.unique(typing.y, return_counts=True)
    card = {
        "name": "faultlens-diagnosis",
        "version": _dt.datetime.now(_dt.timezone.utc).strftime("%Y.%m.%d"),
        "trained": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "estimator": "sklearn RandomForestClassifier (200 trees, min_samples_leaf=2, max_features=sqrt, class_weight=balanced)",
        "data": {
            "source": source,
            "n_traces": len(rows),
            "n_programs": len({r.program for r in rows}),
            "typing_rows": len(typing.y),
            "typing_classes": {str(c): int(n) for c, n in zip(classes, counts)},
            "triage_rows": len(tri.y),
            "triage_faulty": int(tri.y.sum()),
        },
        "features": {"n": len(names), "groups": {g: sum(1 for n in names if group_of(n) == g) for g in GROUPS}},
        "metrics": metrics or {},
    }
    return bundle, card


def write_card_md(directory: str, card: dict[str, Any]) -> str:
    d = card.get("data", {})
    m = card.get("metrics", {})
    lines = [
        "# Model card: faultlens diagnosis model",
        "",
        f"- version: {card.get('version')} (trained {card.get('trained')})",
        f"- estimator: {card.get('estimator')}",
        f"- file: model.pkl, sha256 `{card.get('sha256')}` (checked before loading)",
    ]
    if card.get("arrays_sha256"):
        lines.append(f"- file: model.npz, sha256 `{card.get('arrays_sha256')}`: the same trees as arrays, "
                     "what diagnosis predicts with (numpy alone, the same probabilities)")
    lines += [
        f"- versions: {card.get('versions')} (major.minor must match at load time)",
        "",
        "## Data",
        f"Fault-injected corpus ({d.get('source')}): {d.get('n_traces')} traces from {d.get('n_programs')} programs.",
        f"Fault typing is trained on {d.get('typing_rows')} runs of mutants that were *killed* (significantly worse",
        "than the original over seeds, or crashed; see docs/corpus.md), per type:",
        "",
        "| fault type | runs |", "|---|---|",
    ]
    for k, v in sorted((d.get("typing_classes") or {}).items()):
        lines.append(f"| {k} | {v} |")
    lines += [
        "",
        f"Instability triage: {d.get('triage_rows')} runs, {d.get('triage_faulty')} faulty (originals and equivalent mutants are healthy).",
        "",
        "## Features",
        f"{card.get('features', {}).get('n')} features in groups {card.get('features', {}).get('groups')} (docs/models.md).",
        "",
        "## Metrics (from `faultlens evaluate`, corpora/RESULTS.md)",
    ]
    for task in ("typing", "triage"):
        t = m.get(task) or {}
        if t:
            lines.append(f"- {task}: balanced accuracy within-program {t.get('within_balanced_accuracy'):.3f}, "
                         f"leave-program-out {t.get('lopo_balanced_accuracy'):.3f}, gap {t.get('gap'):.3f}")
    lines += [
        "",
        "## Intended use and limits",
        "Ranks fault types for a run of a small PyTorch training program, next to the rule-based symptoms.",
        "Trained on injected faults in small CPU programs (tabular / small image / sequence data); real bugs",
        "in large models are out of distribution. Probabilities are not calibrated.",
        "",
    ]
    path = os.path.join(directory, "MODEL_CARD.md")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))
    return path
