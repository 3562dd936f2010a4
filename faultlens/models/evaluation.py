"""Evaluating the diagnosis models (``faultlens evaluate``).

For fault typing and for instability triage it reports balanced accuracy under two splits:

* **within-program**: ``StratifiedKFold`` over runs, ignoring programs (DeepFD's protocol:
  runs of one program — even seeds of one mutant — fall on both sides);
* **leave-program-out**: ``LeaveOneGroupOut`` by program — every program is predicted by a model
  trained on all the others, which is the shipped model's situation facing a new program. (A
  5-fold ``GroupKFold`` was used first: its score moved by ±0.02 with the assignment of
  programs to folds — e.g. when a few rows were removed — so one program per fold it is);

the gap between them (DynFault reports 0.190 for prior diagnosers), a diagnostic
within-program split that holds out whole mutants (it separates seed leakage from program
leakage), per-type precision/recall (leave-program-out predictions), recall per mutation
operator, and an ablation by feature group: each group alone and all groups but one, with a
lighter model and a 5-fold ``GroupKFold`` by program (44 folds per cell would take too long). Results go to a Markdown file and
headline figures to ``results.json``.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from typing import Any, Sequence

import numpy as np

from faultlens.corpus.export import Row
from faultlens.models.features import GROUPS
from faultlens.models.training import Dataset, make_estimator, select, triage_dataset, typing_dataset

N_SPLITS = 5


def _cv_predict(ds: Dataset, cols: list[int], split: str, fast: bool = False, seed: int = 0) -> np.ndarray:
    """Out-of-fold predictions. ``split``: ``within`` (StratifiedKFold over runs), ``within_mutant``
    (StratifiedGroupKFold by mutant: programs shared, a mutant's seeds on one side), ``lopo``
    (LeaveOneGroupOut by program: each program predicted by a model trained on all the others)
    or ``lopo5`` (GroupKFold by program, 5 folds: the lighter split of the ablation)."""
    from sklearn.model_selection import GroupKFold, LeaveOneGroupOut, StratifiedGroupKFold, StratifiedKFold

    X = ds.X[:, cols]
    y = ds.y
    pred = np.empty(len(y), dtype=y.dtype)
    _, counts = np.unique(y, return_counts=True)
    n = max(2, min(N_SPLITS, int(counts.min())))
    if split == "lopo":
        folds = LeaveOneGroupOut().split(X, y, ds.groups)
    elif split == "lopo5":
        folds = GroupKFold(n_splits=min(N_SPLITS, len(set(ds.groups)))).split(X, y, ds.groups)
    elif split == "within_mutant":
        mutants = np.array([f"{r.program}/{r.mutant_id}" for r in ds.rows])
        folds = StratifiedGroupKFold(n_splits=n, shuffle=True, random_state=seed).split(X, y, mutants)
    else:
        folds = StratifiedKFold(n_splits=n, shuffle=True, random_state=seed).split(X, y)
    for tr, te in folds:
        if len(set(y[tr])) < 2:
            pred[te] = y[tr][0]
            continue
        est = make_estimator(fast=fast, seed=seed)
        est.fit(X[tr], y[tr])
        pred[te] = est.predict(X[te])
    return pred


def _bal(y, p) -> float:
    from sklearn.metrics import balanced_accuracy_score

    return float(balanced_accuracy_score(y, p))


def evaluate_task(ds: Dataset, ablation: bool = True) -> dict[str, Any]:
    from sklearn.metrics import precision_recall_fscore_support

    if len(ds.y) == 0 or len(set(ds.y)) < 2 or len(set(ds.groups)) < 2:
        return {"n": int(len(ds.y)), "error": "not enough data (need 2 classes and 2 programs)"}
    allc = list(range(len(ds.names)))
    p_within = _cv_predict(ds, allc, "within")
    p_lopo = _cv_predict(ds, allc, "lopo")
    p_within_mutant = _cv_predict(ds, allc, "within_mutant")
    labels = sorted(set(ds.y.tolist()))
    pr, rc, f1, sup = precision_recall_fscore_support(ds.y, p_lopo, labels=labels, zero_division=0)
    prw, rcw, _, _ = precision_recall_fscore_support(ds.y, p_within, labels=labels, zero_division=0)
    res: dict[str, Any] = {
        "n": int(len(ds.y)),
        "n_programs": int(len(set(ds.groups))),
        "n_features": len(ds.names),
        "within_balanced_accuracy": _bal(ds.y, p_within),
        "lopo_balanced_accuracy": _bal(ds.y, p_lopo),
        "within_mutant_balanced_accuracy": _bal(ds.y, p_within_mutant),
        "per_class": {str(c): {"support": int(s), "lopo_precision": float(a), "lopo_recall": float(b),
                               "within_precision": float(c2), "within_recall": float(d2)}
                      for c, s, a, b, c2, d2 in zip(labels, sup, pr, rc, prw, rcw)},
    }
    res["gap"] = res["within_balanced_accuracy"] - res["lopo_balanced_accuracy"]
    # which injected faults the leave-program-out model gets right (typing: the fault type)
    ops: dict[str, list[int]] = {}
    for r, yt, pl in zip(ds.rows, ds.y, p_lopo):
        key = r.operator or r.label
        n_ok = ops.setdefault(str(key), [0, 0])
        n_ok[0] += 1
        n_ok[1] += int(yt == pl)
    res["per_operator"] = {k: {"n": n, "lopo_recall": c / n} for k, (n, c) in sorted(ops.items())}
    if ablation:
        abl = {}
        res["ablation_reference_lopo"] = _bal(ds.y, _cv_predict(ds, allc, "lopo5", fast=True))
        for g in GROUPS:
            only = select(ds.names, include=[g])
            rest = select(ds.names, exclude=[g])
            row: dict[str, Any] = {"n_features": len(only)}
            if only:
                row["only_within"] = _bal(ds.y, _cv_predict(ds, only, "within", fast=True))
                row["only_lopo"] = _bal(ds.y, _cv_predict(ds, only, "lopo5", fast=True))
                row["only_gap"] = row["only_within"] - row["only_lopo"]
            if rest and only:
                row["without_lopo"] = _bal(ds.y, _cv_predict(ds, rest, "lopo5", fast=True))
            abl[g] = row
        res["ablation"] = abl
    return res


def evaluate(rows: Sequence[Row], ablation: bool = True) -> dict[str, Any]:
    from threadpoolctl import threadpool_limits

    # one OpenMP thread: the many small fits of cross-validation gain nothing from threads, and
    # on a shared machine OpenMP's spinning threads make them many times slower
    with threadpool_limits(limits=1):
        return _evaluate(rows, ablation)


def _evaluate(rows: Sequence[Row], ablation: bool) -> dict[str, Any]:
    typing = typing_dataset(rows)
    triage = triage_dataset(rows, typing.names if typing.names else None)
    labels: dict[str, int] = {}
    seen = set()
    for r in rows:
        if (r.program, r.mutant_id) not in seen:
            seen.add((r.program, r.mutant_id))
            labels[r.label] = labels.get(r.label, 0) + 1
    return {
        "generated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "n_traces": len(rows),
        "n_programs": len({r.program for r in rows}),
        "n_mutants": len({(r.program, r.mutant_id) for r in rows if r.mutant_id != "original"}),
        "mutant_labels": labels,
        "typing": evaluate_task(typing, ablation),
        "triage": evaluate_task(triage, ablation),
    }


def headline(res: dict[str, Any]) -> dict[str, Any]:
    t = res.get("typing", {})
    tr = res.get("triage", {})
    return {
        "n_traces": res["n_traces"],
        "n_programs": res["n_programs"],
        "n_mutants": res["n_mutants"],
        "mutant_labels": res["mutant_labels"],
        "within_balanced_accuracy": t.get("within_balanced_accuracy"),
        "lopo_balanced_accuracy": t.get("lopo_balanced_accuracy"),
        "gap": t.get("gap"),
        "within_mutant_balanced_accuracy": t.get("within_mutant_balanced_accuracy"),
        "typing_rows": t.get("n"),
        "triage_within_balanced_accuracy": tr.get("within_balanced_accuracy"),
        "triage_lopo_balanced_accuracy": tr.get("lopo_balanced_accuracy"),
        "triage_gap": tr.get("gap"),
        "triage_within_mutant_balanced_accuracy": tr.get("within_mutant_balanced_accuracy"),
        "triage_rows": tr.get("n"),
        "generated": res.get("generated"),
    }


def _f(v: Any) -> str:
    return "–" if v is None else f"{v:.3f}"


def render_markdown(res: dict[str, Any], command: str, source: str) -> str:
    L = [
        "# faultlens corpus and diagnosis-model results",
        "",
        f"Generated {res['generated']} by `{command}` from `{source}`. Every number below is measured",
        "by that command; regenerate it with the same command.",
        "",
        f"- traces (runs with features): **{res['n_traces']}** from **{res['n_programs']}** programs, "
        f"{res['n_mutants']} mutants",
        f"- mutant labels: {', '.join(f'{k} {v}' for k, v in sorted(res['mutant_labels'].items()))}",
        "  (label rule: one-sided Welch t-test p < 0.05 and Cohen's d >= 0.5 and mean worse, over seeds, against the",
        "  original's seeds; crashed mutants are faulty; see docs/corpus.md)",
        "",
    ]
    for key, title in (("typing", "Fault typing (which of the 12 fault types)"),
                       ("triage", "Instability triage (faulty vs healthy)")):
        t = res.get(key) or {}
        L += [f"## {title}", ""]
        if "error" in t:
            L += [f"Not evaluated: {t['error']} (n = {t.get('n')}).", ""]
            continue
        L += [
            f"{t['n']} runs, {t['n_programs']} programs, {t['n_features']} features.",
            "",
            "| split | balanced accuracy |",
            "|---|---|",
            f"| within-program (StratifiedKFold over runs, programs ignored) | {_f(t['within_balanced_accuracy'])} |",
            f"| leave-program-out (LeaveOneGroupOut by program) | {_f(t['lopo_balanced_accuracy'])} |",
            f"| **gap** | **{_f(t['gap'])}** |",
            f"| diagnostic: within-program, each mutant held out (StratifiedGroupKFold by mutant) | "
            f"{_f(t.get('within_mutant_balanced_accuracy'))} |",
            "",
            "The diagnostic row splits the gap: from the within-program score down to it is what a model "
            "gains from seeing other seeds of the very mutant it is tested on; from it down to "
            "leave-program-out is what it gains from seeing the program.",
            "",
            "| class | support | LOPO precision | LOPO recall | within precision | within recall |",
            "|---|---|---|---|---|---|",
        ]
        for c, v in sorted(t["per_class"].items()):
            L.append(f"| {c} | {v['support']} | {_f(v['lopo_precision'])} | {_f(v['lopo_recall'])} | "
                     f"{_f(v['within_precision'])} | {_f(v['within_recall'])} |")
        if t.get("per_operator"):
            L += ["", "Leave-program-out recall by mutation operator (the runs of each operator, "
                  + ("its fault type predicted" if key == "typing" else "faulty/healthy predicted") + "):", "",
                  "| operator | runs | LOPO recall |", "|---|---|---|"]
            for op, v in t["per_operator"].items():
                L.append(f"| {op} | {v['n']} | {_f(v['lopo_recall'])} |")
        if t.get("ablation"):
            ref = t.get("ablation_reference_lopo")
            L += ["", "Ablation by feature group (lighter: 100 trees, leave-program-out as GroupKFold by program, 5 folds"
                  + (f"; all groups with it: LOPO {_f(ref)}" if ref is not None else "") + "):", "",
                  "| group | features | only: within | only: LOPO | only: gap | all but this: LOPO | change |",
                  "|---|---|---|---|---|---|---|"]
            for g, v in t["ablation"].items():
                w = v.get("without_lopo")
                delta = f"{w - ref:+.3f}" if (w is not None and ref is not None) else "–"
                L.append(f"| {g} | {v['n_features']} | {_f(v.get('only_within'))} | {_f(v.get('only_lopo'))} | "
                         f"{_f(v.get('only_gap'))} | {_f(w)} | {delta} |")
            L += ["", _curvature_sentence(t["ablation"], ref)]
        L.append("")
    return "\n".join(L)


def _curvature_sentence(abl: dict[str, Any], ref: float | None) -> str:
    """Where the curvature group helps or not, read off the ablation numbers."""
    c = abl.get("curv") or {}
    if "only_lopo" not in c:
        return "Curvature: no curvature features in this corpus (built with --no-curvature)."
    gaps = sorted((v["only_gap"], g) for g, v in abl.items() if "only_gap" in v)
    rank = [g for _, g in gaps].index("curv") + 1
    lopos = sorted(((v["only_lopo"], g) for g, v in abl.items() if "only_lopo" in v), reverse=True)
    lrank = [g for _, g in lopos].index("curv") + 1
    text = (f"Curvature: alone it reaches LOPO {_f(c['only_lopo'])} (rank {lrank} of {len(lopos)} groups) with a "
            f"within-to-LOPO gap of {_f(c['only_gap'])} (rank {rank} of {len(gaps)}, 1 = smallest gap)")
    if ref is not None and c.get("without_lopo") is not None:
        d = c["without_lopo"] - ref
        text += (f"; removing it from the full model changes LOPO by {d:+.3f}"
                 + (" — it adds nothing the other groups do not already carry." if d >= -0.005 else "."))
    else:
        text += "."
    return text


def write_results(res: dict[str, Any], out_md: str, command: str, source: str,
                  populations: dict[str, Any] | None = None, real_source: str | None = None) -> tuple[str, str]:
    """Write the Markdown results and ``results.json`` beside them. The headline (top-level keys)
    is the own corpus's; ``populations`` (evaluate_populations) adds the transfer study."""
    os.makedirs(os.path.dirname(os.path.abspath(out_md)), exist_ok=True)
    md = render_markdown(res, command, source)
    extra: dict[str, Any] = {}
    if populations is not None:
        md = md.rstrip("\n") + "\n\n" + render_populations(populations, real_source or "")
        extra = {**populations_headline(populations), "real_source": real_source}
    with open(out_md, "w", encoding="utf-8") as fh:
        fh.write(md)
    jpath = os.path.join(os.path.dirname(os.path.abspath(out_md)), "results.json")
    with open(jpath, "w", encoding="utf-8") as fh:
        json.dump({**headline(res), **extra, "command": command, "source": source}, fh, indent=2, sort_keys=True)
        fh.write("\n")
    return out_md, jpath


# ----------------------------------------------------------------------------- populations
#: the fault-typing targets of the real-program corpus (issue: the transfer study)
TARGETS = {"lopo_both": 0.88, "own_to_real": 0.80, "gap_within_mutant": 0.03}


def _population_scores(ds: Dataset, parts: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """Within-program, mutant-held-out and leave-program-out balanced accuracy of one population.
    ``parts`` (name -> row mask) adds the leave-program-out balanced accuracy of those rows alone:
    on both populations, how a program of each population fares facing a model trained on the rest."""
    if len(ds.y) == 0 or len(set(ds.y)) < 2 or len(set(ds.groups)) < 2:
        return {"n": int(len(ds.y)), "error": "not enough data (need 2 classes and 2 programs)"}
    allc = list(range(len(ds.names)))
    p_lopo = _cv_predict(ds, allc, "lopo")
    res = {"n": int(len(ds.y)), "n_programs": int(len(set(ds.groups))),
           "classes": {str(c): int(n) for c, n in zip(*np.unique(ds.y, return_counts=True))},
           "within_balanced_accuracy": _bal(ds.y, _cv_predict(ds, allc, "within")),
           "within_mutant_balanced_accuracy": _bal(ds.y, _cv_predict(ds, allc, "within_mutant")),
           "lopo_balanced_accuracy": _bal(ds.y, p_lopo)}
    res["gap"] = res["within_balanced_accuracy"] - res["lopo_balanced_accuracy"]
    res["gap_within_mutant"] = res["within_mutant_balanced_accuracy"] - res["lopo_balanced_accuracy"]
    for name, mask in (parts or {}).items():
        if mask.any():
            res[f"lopo_balanced_accuracy_{name}_rows"] = _bal(ds.y[mask], p_lopo[mask])
    return res


#: how many of the most population-identifying features the removal attempt drops
SHIFT_DROP = (10, 20, 40)


def _population_classifier(own: Dataset, real: Dataset):
    """A forest told to tell the populations apart from the features alone (no fault labels): its
    importances rank the features by how much they identify the population, and its out-of-fold
    probabilities (5-fold GroupKFold by program) give each own run its odds of looking real."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold, cross_val_predict

    X = np.vstack([own.X, real.X])
    d = np.r_[np.zeros(len(own.y)), np.ones(len(real.y))]
    g = np.r_[own.groups, real.groups]
    est = RandomForestClassifier(n_estimators=200, min_samples_leaf=5, n_jobs=1, random_state=0)
    p = cross_val_predict(est, X, d, groups=g, cv=GroupKFold(n_splits=N_SPLITS), method="predict_proba")[:, 1]
    est.fit(X, d)
    order = [own.names[i] for i in np.argsort(-est.feature_importances_, kind="stable")]
    return float(roc_auc_score(d, p)), order, p[:len(own.y)]


def transfer_attempts(d_own: Dataset, d_real: Dataset, d_both: Dataset) -> dict[str, Any]:
    """What was tried to make the own-program model carry over to real programs, each scored
    own-to-real with the ablation's 100-tree forest, and, where it changes the features, by
    leave-program-out (5-fold GroupKFold) within own and on both, since a change that transfers
    better but loses within a population is no gain for the shipped model:

    * dropping the k features that best tell the populations apart (covariate shift: features whose
      values identify the population cannot carry over; no real labels are used to pick them);
    * weighting own runs by their odds of looking real (importance weighting for covariate shift,
      Shimodaira 2000; odds from the population classifier, clipped to [0.02, 0.98])."""
    auc, order, p_real = _population_classifier(d_own, d_real)
    allc = list(range(len(d_own.names)))
    out: dict[str, Any] = {"population_auc": auc, "most_identifying": order[:10],
                           "reference": {"own_to_real": _transfer(d_own, d_real, allc, fast=True)["balanced_accuracy"],
                                         "lopo5_own": _bal(d_own.y, _cv_predict(d_own, allc, "lopo5", fast=True)),
                                         "lopo5_both": _bal(d_both.y, _cv_predict(d_both, allc, "lopo5", fast=True))}}
    for k in SHIFT_DROP:
        if k >= len(order):
            continue
        drop = set(order[:k])
        cols = [i for i, n in enumerate(d_own.names) if n not in drop]
        out[f"drop_{k}"] = {"own_to_real": _transfer(d_own, d_real, cols, fast=True)["balanced_accuracy"],
                            "lopo5_own": _bal(d_own.y, _cv_predict(d_own, cols, "lopo5", fast=True)),
                            "lopo5_both": _bal(d_both.y, _cv_predict(d_both, cols, "lopo5", fast=True))}
    odds = np.clip(p_real, 0.02, 0.98)
    w = odds / (1 - odds)
    est = make_estimator(fast=True)
    est.fit(d_own.X, d_own.y, sample_weight=w / w.mean())
    out["importance_weighted"] = {"own_to_real": _bal(d_real.y, est.predict(d_real.X))}
    return out


def _transfer(train: Dataset, test: Dataset, cols: list[int] | None = None, fast: bool = False) -> dict[str, Any]:
    """Train on one population, predict the other: balanced accuracy over the test population's
    classes (a class the training population lacks counts with recall 0), and over the classes
    both have."""
    if len(set(train.y)) < 2 or len(test.y) == 0:
        return {"error": "not enough data"}
    cols = list(range(len(train.names))) if cols is None else cols
    est = make_estimator(fast=fast)
    est.fit(train.X[:, cols], train.y)
    pred = est.predict(test.X[:, cols])
    shared = sorted(set(train.y.tolist()) & set(test.y.tolist()))
    mask = np.isin(test.y, shared)
    return {"balanced_accuracy": _bal(test.y, pred),
            "shared_classes": shared,
            "shared_balanced_accuracy": _bal(test.y[mask], pred[mask]) if mask.any() and len(shared) > 1 else None,
            "n_test": int(len(test.y))}


def evaluate_populations(own: Sequence[Row], real: Sequence[Row], ablation: bool = True) -> dict[str, Any]:
    """The transfer study: each population alone and both together (within-program, mutant held
    out, leave-program-out), training on one population and testing on the other, and the
    feature-group ablation of the own-to-real transfer."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        names = typing_dataset(list(own) + list(real)).names
        d_own, d_real = typing_dataset(own, names), typing_dataset(real, names)
        d_both = typing_dataset(list(own) + list(real), names)
        counts = {}
        for key, rows in (("own", own), ("real", real)):
            counts[key] = {"n_traces": len(rows), "n_programs": len({r.program for r in rows}),
                           "n_mutants": len({(r.program, r.mutant_id) for r in rows if r.mutant_id != "original"})}
        pops = {"own": {**counts["own"], **_population_scores(d_own)},
                "real": {**counts["real"], **_population_scores(d_real)},
                "both": {"n_traces": len(own) + len(real),
                         **_population_scores(d_both, {"own": np.isin(d_both.groups, list(set(d_own.groups))),
                                                       "real": np.isin(d_both.groups, list(set(d_real.groups)))})}}
        transfer = {"own_to_real": _transfer(d_own, d_real), "real_to_own": _transfer(d_real, d_own)}
        tri_names = triage_dataset(list(own) + list(real)).names
        t_own, t_real = triage_dataset(own, tri_names), triage_dataset(real, tri_names)
        transfer["triage_own_to_real"] = _transfer(t_own, t_real)
        transfer["triage_real_to_own"] = _transfer(t_real, t_own)
        abl: dict[str, Any] = {}
        if ablation and "error" not in transfer["own_to_real"]:
            abl["reference"] = _transfer(d_own, d_real, fast=True)["balanced_accuracy"]
            for g in GROUPS:
                only, rest = select(names, include=[g]), select(names, exclude=[g])
                row: dict[str, Any] = {"n_features": len(only)}
                if only:
                    row["only"] = _transfer(d_own, d_real, only, fast=True).get("balanced_accuracy")
                if only and rest:
                    row["without"] = _transfer(d_own, d_real, rest, fast=True).get("balanced_accuracy")
                abl[g] = row
        attempts = transfer_attempts(d_own, d_real, d_both) if ablation and "error" not in transfer["own_to_real"] \
            else {}
    return {"populations": pops, "transfer": transfer, "transfer_ablation": abl, "transfer_attempts": attempts}


def populations_headline(p: dict[str, Any]) -> dict[str, Any]:
    """The ``populations`` and ``transfer`` entries of results.json."""
    keys = ("n_traces", "n_programs", "n_mutants", "n", "within_balanced_accuracy", "within_mutant_balanced_accuracy",
            "lopo_balanced_accuracy", "gap", "gap_within_mutant", "lopo_balanced_accuracy_own_rows",
            "lopo_balanced_accuracy_real_rows")
    pops = {k: {kk: v.get(kk) for kk in keys if kk in v} for k, v in p["populations"].items()}
    t = p["transfer"]
    return {"populations": pops,
            "transfer": {"own_to_real": t["own_to_real"].get("balanced_accuracy"),
                         "real_to_own": t["real_to_own"].get("balanced_accuracy"),
                         "own_to_real_shared_classes": t["own_to_real"].get("shared_balanced_accuracy"),
                         "real_to_own_shared_classes": t["real_to_own"].get("shared_balanced_accuracy"),
                         "triage_own_to_real": t["triage_own_to_real"].get("balanced_accuracy"),
                         "triage_real_to_own": t["triage_real_to_own"].get("balanced_accuracy")}}


def _met(value: float | None, target: float, lower_is_better: bool = False) -> str:
    if value is None:
        return "not measured"
    ok = value <= target if lower_is_better else value >= target
    return "met" if ok else f"missed by {abs(value - target):.3f}"


def render_populations(p: dict[str, Any], real_source: str) -> str:
    pops, t, abl = p["populations"], p["transfer"], p.get("transfer_ablation") or {}
    L = ["## Populations and transfer (fault typing)", "",
         f"Two populations of programs: **own** (the subject programs this project wrote, `corpora/programs`) and "
         f"**real** (public programs nobody on the project wrote: the external benchmark's dev half, "
         f"`{real_source}`; its test half is in no model). Both were mutated by the same operators and "
         "labelled by the same test.", "",
         "| population | programs | traces | typing rows | within-program | mutant held out | leave-program-out | "
         "gap (within) | gap (mutant held out) |", "|---|---|---|---|---|---|---|---|---|"]
    for k in ("own", "real", "both"):
        v = pops[k]
        if "error" in v:
            L.append(f"| {k} | {v.get('n_programs', '–')} | {v.get('n_traces', '–')} | {v.get('n')} | "
                     f"{v['error']} | | | | |")
            continue
        L.append(f"| {k} | {v['n_programs']} | {v.get('n_traces', '–')} | {v['n']} | {_f(v['within_balanced_accuracy'])} | "
                 f"{_f(v['within_mutant_balanced_accuracy'])} | {_f(v['lopo_balanced_accuracy'])} | {_f(v['gap'])} | "
                 f"{_f(v['gap_within_mutant'])} |")
    o2r, r2o = t["own_to_real"], t["real_to_own"]
    L += ["", "| transfer | balanced accuracy | on the classes both have | classes both have |", "|---|---|---|---|",
          f"| train own, test real | {_f(o2r.get('balanced_accuracy'))} | {_f(o2r.get('shared_balanced_accuracy'))} | "
          f"{len(o2r.get('shared_classes') or [])} |",
          f"| train real, test own | {_f(r2o.get('balanced_accuracy'))} | {_f(r2o.get('shared_balanced_accuracy'))} | "
          f"{len(r2o.get('shared_classes') or [])} |",
          f"| triage (faulty vs healthy), train own, test real | {_f(t['triage_own_to_real'].get('balanced_accuracy'))} | | |",
          f"| triage, train real, test own | {_f(t['triage_real_to_own'].get('balanced_accuracy'))} | | |", ""]
    both = pops["both"]
    if "lopo_balanced_accuracy_real_rows" in both:
        L += [f"Leave-program-out on both populations, scored on each population's programs alone (each "
              f"program predicted by a model trained on the other {both['n_programs'] - 1} programs of both): "
              f"real programs {_f(both['lopo_balanced_accuracy_real_rows'])} (against "
              f"{_f(pops['real'].get('lopo_balanced_accuracy'))} from the other real programs alone), own programs "
              f"{_f(both.get('lopo_balanced_accuracy_own_rows'))} (against {_f(pops['own'].get('lopo_balanced_accuracy'))}).",
              ""]
    L += ["Targets: leave-program-out on both populations >= 0.88 "
          f"({_met(both.get('lopo_balanced_accuracy'), TARGETS['lopo_both'])}); own-to-real transfer >= 0.80 "
          f"({_met(o2r.get('balanced_accuracy'), TARGETS['own_to_real'])}); gap against the mutant-held-out split "
          f"<= 0.03 on both populations ({_met(both.get('gap_within_mutant'), TARGETS['gap_within_mutant'], True)}).", ""]
    if abl:
        ref = abl.get("reference")
        L += [f"Feature-group ablation of the own-to-real transfer (100 trees; all groups: {_f(ref)}):", "",
              "| group | features | this group alone | all but this group | change |", "|---|---|---|---|---|"]
        for g in GROUPS:
            v = abl.get(g) or {}
            w = v.get("without")
            d = f"{w - ref:+.3f}" if (w is not None and ref is not None) else "–"
            L.append(f"| {g} | {v.get('n_features', 0)} | {_f(v.get('only'))} | {_f(w)} | {d} |")
        L.append("")
    att = p.get("transfer_attempts") or {}
    if att:
        ref = att["reference"]
        L += ["What was tried for the own-to-real transfer (100 trees; leave-program-out here is 5-fold "
              "GroupKFold by program, so it differs a little from the tables above). A forest told to tell "
              f"the two populations apart from the features alone does so with ROC AUC {_f(att['population_auc'])}; "
              "the features it leans on most: " + ", ".join(f"`{n}`" for n in att["most_identifying"]) + ".", "",
              "| attempt | own to real | leave-program-out, own | leave-program-out, both |", "|---|---|---|---|",
              f"| all features (reference) | {_f(ref['own_to_real'])} | {_f(ref['lopo5_own'])} | {_f(ref['lopo5_both'])} |"]
        for k in SHIFT_DROP:
            v = att.get(f"drop_{k}")
            if v:
                L.append(f"| without the {k} most population-identifying features | {_f(v['own_to_real'])} | "
                         f"{_f(v['lopo5_own'])} | {_f(v['lopo5_both'])} |")
        L.append(f"| own runs weighted by their odds of looking real | "
                 f"{_f(att['importance_weighted']['own_to_real'])} | | |")
        L.append("")
    return "\n".join(L)
