"""Corpus rows for training, from the SQLite corpus or its compressed CSV export.

``load_rows(path)`` accepts either the corpus database or ``corpus_features.csv.gz`` (the
committed export) and returns one :class:`Row` per run that has features. ``export_csv``
writes ``corpus_features.csv.gz`` (one row per run: identity, label, every feature) and
``corpus_labels.csv.gz`` (one row per mutant: the label statistics).
"""
from __future__ import annotations

import csv
import gzip
import json
import math
import os
import sqlite3
from dataclasses import dataclass, field
from typing import Any

ID_COLUMNS = ("run_id", "program", "mutant_id", "seed", "status", "score", "operator", "fault_type", "label")


@dataclass
class Row:
    run_id: int
    program: str
    mutant_id: str
    seed: int
    status: str
    score: float | None
    operator: str | None
    fault_type: str | None
    label: str            # "original", "faulty", "crash", "equivalent", "pending"
    features: dict[str, float] = field(default_factory=dict)

    @property
    def is_faulty(self) -> bool:
        return self.label in ("faulty", "crash")

    @property
    def is_healthy(self) -> bool:
        return self.label in ("original", "equivalent")


def _f(v: Any) -> float:
    if v is None or v == "":
        return float("nan")
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def rows_from_db(path: str) -> list[Row]:
    con = sqlite3.connect(path)
    try:
        labels = {(p, m): lab for p, m, lab in con.execute("SELECT program, mutant_id, label FROM labels")}
        muts = {(p, m): (op, ft) for p, m, op, ft in con.execute(
            "SELECT program, mutant_id, operator, fault_type FROM mutants")}
        out = []
        q = ("SELECT r.run_id, r.program, r.mutant_id, r.seed, r.status, r.score, f.data FROM runs r "
             "JOIN features f ON f.run_id = r.run_id ORDER BY r.run_id")
        for run_id, prog, mid, seed, status, score, data in con.execute(q):
            op, ft = muts.get((prog, mid), (None, None))
            label = "original" if mid == "original" else labels.get((prog, mid), "pending")
            feats = {k: _f(v) for k, v in json.loads(data).items()}
            out.append(Row(int(run_id), prog, mid, int(seed), status or "", None if score is None else float(score),
                           op, ft, label, feats))
        return out
    finally:
        con.close()


def rows_from_csv(path: str) -> list[Row]:
    out = []
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        for rec in csv.DictReader(fh):
            feats = {k: _f(v) for k, v in rec.items() if k not in ID_COLUMNS}
            score = _f(rec.get("score"))
            out.append(Row(int(rec["run_id"]), rec["program"], rec["mutant_id"], int(rec["seed"]), rec["status"],
                           None if math.isnan(score) else score, rec.get("operator") or None,
                           rec.get("fault_type") or None, rec["label"], feats))
    return out


def load_rows(path: str) -> list[Row]:
    from faultlens.errors import FaultlensError

    if not os.path.exists(path):
        raise FaultlensError(f"{path}: no such corpus (database or corpus_features.csv.gz)")
    if path.endswith(".csv") or path.endswith(".csv.gz"):
        return rows_from_csv(path)
    try:
        return rows_from_db(path)
    except sqlite3.DatabaseError as exc:
        raise FaultlensError(f"{path}: not a corpus database ({exc})") from None


def _fmt(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{v:.6g}"


def export_csv(db_path: str, out_dir: str) -> list[str]:
    rows = rows_from_db(db_path)
    os.makedirs(out_dir, exist_ok=True)
    names = sorted({k for r in rows for k in r.features})
    fpath = os.path.join(out_dir, "corpus_features.csv.gz")
    with gzip.open(fpath, "wt", encoding="utf-8", newline="", compresslevel=9) as fh:
        w = csv.writer(fh)
        w.writerow(list(ID_COLUMNS) + names)
        for r in rows:
            w.writerow([r.run_id, r.program, r.mutant_id, r.seed, r.status, _fmt(r.score), r.operator or "",
                        r.fault_type or "", r.label] + [_fmt(r.features.get(n, float("nan"))) for n in names])
    lpath = os.path.join(out_dir, "corpus_labels.csv.gz")
    con = sqlite3.connect(db_path)
    try:
        cur = con.execute("SELECT l.*, m.site, m.params FROM labels l LEFT JOIN mutants m "
                          "ON m.program = l.program AND m.mutant_id = l.mutant_id ORDER BY l.program, l.mutant_id")
        cols = [d[0] for d in cur.description]
        with gzip.open(lpath, "wt", encoding="utf-8", newline="", compresslevel=9) as fh:
            w = csv.writer(fh)
            w.writerow(cols)
            for rec in cur:
                w.writerow(["" if v is None else v for v in rec])
        rpath = os.path.join(out_dir, "corpus_runs.csv.gz")
        cur = con.execute("SELECT run_id, program, mutant_id, seed, status, score, metric, steps, seconds, "
                          "trace_status, crash_kind, substr(error, 1, 300) FROM runs ORDER BY run_id")
        cols = [d[0] for d in cur.description]
        with gzip.open(rpath, "wt", encoding="utf-8", newline="", compresslevel=9) as fh:
            w = csv.writer(fh)
            w.writerow(cols[:-1] + ["error"])
            for rec in cur:
                w.writerow(["" if v is None else v for v in rec])
    finally:
        con.close()
    return [fpath, lpath, rpath]
