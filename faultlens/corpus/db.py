"""The corpus database: one SQLite file (WAL mode) per corpus.

Tables (documented in docs/corpus.md):

``meta(key, value)``                 build settings (JSON values)
``programs(program, path, sha256, n_mutants)``
``mutants(mutant_id, program, operator, fault_type, site, params, description, files)``
                                     ``mutant_id = 'original'`` is each program's unmodified run
``runs(run_id, program, mutant_id, seed, status, score, metric, steps, seconds, trace_status,
       crash_kind, error, started, finished)``  one row per (program, mutant_id, seed): the job key
``series(run_id, metric, steps, vals)`` compact per-run copies of the global series
                                     (loss, accuracy, gradient/weight norms, lr, ...), JSON arrays
                                     down-sampled to at most 64 points
``features(run_id, data)``           the feature dict of the run (JSON), see docs/models.md
``labels(program, mutant_id, operator, fault_type, label, killed, n_orig, n_mut, n_mut_crashed,
         mean_orig, mean_mut, std_orig, std_mut, p_value, cohens_d, test)``

Each finished run is written in its own transaction, so a build killed at any moment keeps
every finished run.
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import Any, Iterable

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS programs(
    program TEXT PRIMARY KEY, path TEXT, sha256 TEXT, n_mutants INTEGER);
CREATE TABLE IF NOT EXISTS mutants(
    mutant_id TEXT, program TEXT, operator TEXT, fault_type TEXT, site TEXT, params TEXT,
    description TEXT, files TEXT, PRIMARY KEY(program, mutant_id));
CREATE TABLE IF NOT EXISTS runs(
    run_id INTEGER PRIMARY KEY AUTOINCREMENT, program TEXT NOT NULL, mutant_id TEXT NOT NULL,
    seed INTEGER NOT NULL, status TEXT, score REAL, metric TEXT, steps INTEGER, seconds REAL,
    trace_status TEXT, crash_kind TEXT, error TEXT, started REAL, finished REAL,
    UNIQUE(program, mutant_id, seed));
CREATE TABLE IF NOT EXISTS series(
    run_id INTEGER, metric TEXT, steps TEXT, vals TEXT, PRIMARY KEY(run_id, metric));
CREATE TABLE IF NOT EXISTS features(run_id INTEGER PRIMARY KEY, data TEXT);
CREATE TABLE IF NOT EXISTS labels(
    program TEXT, mutant_id TEXT, operator TEXT, fault_type TEXT, label TEXT, killed INTEGER,
    n_orig INTEGER, n_mut INTEGER, n_mut_crashed INTEGER, mean_orig REAL, mean_mut REAL,
    std_orig REAL, std_mut REAL, p_value REAL, cohens_d REAL, test TEXT,
    PRIMARY KEY(program, mutant_id));
CREATE INDEX IF NOT EXISTS runs_mutant ON runs(program, mutant_id);
"""


def connect(path: str | os.PathLike[str]) -> sqlite3.Connection:
    p = os.fspath(path)
    d = os.path.dirname(os.path.abspath(p))
    os.makedirs(d, exist_ok=True)
    con = sqlite3.connect(p, timeout=60, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.executescript(SCHEMA_SQL)
    return con


def set_meta(con: sqlite3.Connection, **items: Any) -> None:
    with _tx(con):
        for k, v in items.items():
            con.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (k, json.dumps(v, default=str)))


def mutant_description(desc: str | None) -> dict[str, Any]:
    """A mutant row's ``description`` as a dict (``text``, ``info``, ``plan``); ``{}`` for an
    empty or plain-text one."""
    return json.loads(desc) if desc and desc.startswith("{") else {}


def get_meta(con: sqlite3.Connection) -> dict[str, Any]:
    return {k: json.loads(v) for k, v in con.execute("SELECT key, value FROM meta")}


class _tx:
    def __init__(self, con: sqlite3.Connection):
        self.con = con

    def __enter__(self):
        self.con.execute("BEGIN IMMEDIATE")
        return self.con

    def __exit__(self, et, ev, tb):
        if et is None:
            self.con.execute("COMMIT")
        else:
            self.con.execute("ROLLBACK")
        return False


def transaction(con: sqlite3.Connection) -> _tx:
    return _tx(con)


def done_jobs(con: sqlite3.Connection) -> set[tuple[str, str, int]]:
    return {(p, m, int(s)) for p, m, s in con.execute("SELECT program, mutant_id, seed FROM runs")}


def _num(x: Any) -> Any:
    if x is None:
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f


def record_run(con: sqlite3.Connection, result: dict[str, Any]) -> int:
    """Insert one finished job (its run row, series and features) in one transaction."""
    with _tx(con):
        cur = con.execute(
            "INSERT OR REPLACE INTO runs(program, mutant_id, seed, status, score, metric, steps, seconds,"
            " trace_status, crash_kind, error, started, finished) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (result["program"], result["mutant_id"], int(result["seed"]), result.get("status"),
             _num(result.get("score")), result.get("metric"), result.get("steps"), _num(result.get("seconds")),
             result.get("trace_status"), result.get("crash_kind"), result.get("error"),
             result.get("started", time.time()), result.get("finished", time.time())),
        )
        run_id = int(cur.lastrowid)
        for metric, (steps, vals) in (result.get("series") or {}).items():
            con.execute("INSERT OR REPLACE INTO series(run_id, metric, steps, vals) VALUES (?,?,?,?)",
                        (run_id, metric, json.dumps(steps), json.dumps(vals)))
        feats = result.get("features")
        if feats is not None:
            con.execute("INSERT OR REPLACE INTO features(run_id, data) VALUES (?, ?)",
                        (run_id, json.dumps(feats, allow_nan=True)))
    return run_id


def upsert_mutants(con: sqlite3.Connection, program: str, path: str, sha: str, rows: Iterable[dict[str, Any]]) -> None:
    rows = list(rows)
    with _tx(con):
        con.execute("INSERT OR REPLACE INTO programs(program, path, sha256, n_mutants) VALUES (?,?,?,?)",
                    (program, path, sha, sum(1 for r in rows if r["mutant_id"] != "original")))
        for r in rows:
            con.execute(
                "INSERT OR REPLACE INTO mutants(mutant_id, program, operator, fault_type, site, params,"
                " description, files) VALUES (?,?,?,?,?,?,?,?)",
                (r["mutant_id"], program, r.get("operator"), r.get("fault_type"), r.get("site"),
                 json.dumps(r.get("params") or {}), r.get("description"), json.dumps(r.get("files") or [])),
            )
