"""Reading a run's trace (``trace.sqlite``) into columnar numpy arrays.

:func:`read_tables` is the one reader of the trace database (``docs/trace.md``): both
``load_trace(path)``, which returns a :class:`Trace`, and the symptoms' ``TraceView`` read
through it, and both hold the same :class:`Event` rows. No torch import: the diagnosis
stage, the report and the corpus builder read traces cheaply. A trace written by a killed run
is readable: every flushed step is there, ``status`` stays ``running`` in ``meta`` (the
runner overwrites it when it sees the child die).
"""
from __future__ import annotations

import json
import os
import sqlite3
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from faultlens.errors import FaultlensError
from faultlens.instrumenter.schema import SCHEMA


@dataclass(frozen=True)
class Event:
    """One row of the ``events`` table."""

    step: int
    seq: int
    event: str
    node: str | None
    training: bool | None
    grad_enabled: bool | None

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "seq": self.seq, "event": self.event, "node": self.node,
                "training": self.training, "grad_enabled": self.grad_enabled}


@dataclass
class Trace:
    """One run's recorded data.

    ``meta``: the meta table (schema, program, status, steps, crash, probe_errors, ...).
    ``data``: ``{(metric, node): (steps int64 array, values float64 array)}``, steps ascending.
    ``events``: training-step events in recording order.
    """

    meta: dict[str, Any]
    data: dict[tuple[str, str | None], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    path: str | None = None

    # ------------------------------------------------------------------ accessors
    @property
    def status(self) -> str:
        return str(self.meta.get("status", "running"))

    @property
    def steps(self) -> int:
        v = self.meta.get("steps")
        if v is None:
            all_steps = [int(s[-1]) + 1 for s, _ in self.data.values() if len(s)]
            return max(all_steps, default=0)
        return int(v)

    @property
    def crash(self) -> dict[str, Any] | None:
        return self.meta.get("crash")

    @property
    def stop_reason(self) -> str | None:
        return self.meta.get("stop_reason")

    @property
    def probe_errors(self) -> list[dict[str, Any]]:
        return list(self.meta.get("probe_errors") or [])

    def metrics(self) -> list[tuple[str, str | None]]:
        """All recorded (metric, node) pairs, sorted."""
        return sorted(self.data, key=lambda k: (k[0], k[1] or ""))

    def nodes(self, metric: str) -> list[str | None]:
        """The nodes that have a series for ``metric`` (sorted)."""
        return sorted((n for m, n in self.data if m == metric), key=lambda n: n or "")

    def has(self, metric: str, node: str | None = None) -> bool:
        if node is None:
            return any(m == metric for m, _ in self.data)
        return (metric, node) in self.data

    def series(self, metric: str, node: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)`` of one series. ``node=None``: the only (or first sorted) node
        recorded for ``metric``. Missing series: two empty arrays."""
        if node is None:
            nodes = self.nodes(metric)
            if not nodes:
                return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
            node = nodes[0]
        return self.data.get((metric, node), (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)))

    def values(self, metric: str, node: str | None = None) -> np.ndarray:
        return self.series(metric, node)[1]

    def last(self, metric: str, node: str | None = None, default: float | None = None) -> float | None:
        v = self.values(metric, node)
        return float(v[-1]) if len(v) else default

    def events_at(self, step: int) -> list[Event]:
        return [e for e in self.events if e.step == step]

    def to_dict_of_arrays(self) -> dict[str, np.ndarray]:
        """Flat mapping ``"metric"`` / ``"metric@node"`` -> values, plus ``"step:..."`` keys
        with the steps of each series (for pandas/npz export)."""
        out: dict[str, np.ndarray] = {}
        for (m, n), (s, v) in self.data.items():
            key = m if n is None else f"{m}@{n}"
            out[key] = v
            out[f"step:{key}"] = s
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary: meta, per series steps/values lists, events."""
        return {
            "meta": self.meta,
            "series": [
                {"metric": m, "node": n, "steps": s.tolist(), "values": [None if not np.isfinite(x) else float(x) for x in v]}
                for (m, n), (s, v) in sorted(self.data.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
            ],
            "events": [e.to_dict() for e in self.events],
        }


#: what :func:`read_tables` returns: meta, the series keys in id order, the series, the events
Tables = tuple[dict[str, Any], list[tuple[str, str | None]],
               dict[tuple[str, str | None], tuple[np.ndarray, np.ndarray]], list[Event]]


def read_tables(path: str, *, strict: bool = True) -> Tables:
    """Read a trace database: ``(meta, keys, data, events)``.

    ``meta``: the meta table, JSON values decoded. ``keys``: every ``(metric, node)`` of
    ``series_keys`` in id order (the order series first appeared in the run). ``data``:
    ``{(metric, node): (steps int64, values float64)}`` in key order, steps ascending, the rows
    of one step in recording order, NULL values as NaN. ``events``: the ``events`` rows in
    recording order. The database is opened read-only, so a trace still being written can be
    read (SQLite WAL: readers never block the writer).

    ``strict``: the file must be a complete trace of this schema (``faultlens.trace/1``), else
    :class:`~faultlens.errors.FaultlensError`. Not strict (a trace still being written, or one a
    test wrote): no schema check, a database without the tables raises ``sqlite3.DatabaseError``
    and one without an events table reads as no events."""
    uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro"
    try:
        con = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:  # pragma: no cover - permission problems
        if not strict:
            raise
        raise FaultlensError(f"{path}: cannot open trace: {exc}") from exc
    try:
        try:
            meta = {k: _loads(v) for k, v in con.execute("SELECT key, value FROM meta")}
        except sqlite3.DatabaseError as exc:
            if not strict:
                raise
            raise FaultlensError(f"{path}: not a faultlens trace ({exc})") from exc
        if strict and meta.get("schema") != SCHEMA:
            raise FaultlensError(f"{path}: unsupported trace schema {meta.get('schema')!r} (expected {SCHEMA!r})")
        ids = {kid: (m, n) for kid, m, n in con.execute("SELECT id, metric, node FROM series_keys ORDER BY id")}
        cols: dict[int, tuple[list[int], list[float]]] = {}
        for step, kid, value in con.execute("SELECT step, key, value FROM scalars ORDER BY key, step, rowid"):
            c = cols.get(kid)
            if c is None:
                c = cols[kid] = ([], [])
            c[0].append(step)
            c[1].append(np.nan if value is None else value)
        data = {ids[kid]: (np.asarray(s, dtype=np.int64), np.asarray(v, dtype=np.float64))
                for kid, (s, v) in cols.items() if kid in ids}
        try:
            rows = con.execute("SELECT step, seq, event, node, training, grad_enabled FROM events ORDER BY rowid")
        except sqlite3.OperationalError:
            if strict:
                raise
            rows = []
        events = [Event(int(s or 0), int(q or 0), str(e), n, None if t is None else bool(t),
                        None if g is None else bool(g)) for s, q, e, n, t, g in rows]
    finally:
        con.close()
    return meta, list(ids.values()), data, events


def load_trace(path: str | os.PathLike[str]) -> Trace:
    """Load a trace database (or a run directory containing ``trace.sqlite``)."""
    p = os.fspath(path)
    if os.path.isdir(p):
        p = os.path.join(p, "trace.sqlite")
    if not os.path.exists(p):
        raise FaultlensError(f"{p}: no such trace")
    meta, _, data, events = read_tables(p, strict=True)
    return Trace(meta=meta, data=data, events=events, path=p)


def _loads(v: str) -> Any:
    try:
        return json.loads(v)
    except (TypeError, ValueError):
        return v
