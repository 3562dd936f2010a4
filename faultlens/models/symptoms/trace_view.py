"""A uniform, read-only view of a run's trace for the symptom detectors.

The symptoms only need a handful of questions answered: which metrics and nodes were
recorded, a metric's ``(steps, values)`` for one node, the event rows, the crash record and
the run status. :class:`TraceView` answers them from

* a ``trace.sqlite`` path (read by the one trace reader,
  :func:`faultlens.instrumenter.trace.read_tables`, not strictly: also a trace still being
  written), or
* any object with the methods of ``faultlens.instrumenter.trace.Trace`` (``meta``,
  ``metrics()``, ``nodes(metric)``, ``series(metric, node)``, ``events``, ``crash``,
  ``status``, ``steps``); the return shapes accepted are listed in :func:`_as_xy`.

The events are :class:`faultlens.instrumenter.trace.Event` rows, the same type a ``Trace``
holds. Only the standard library, numpy and that reader are imported here.
"""
from __future__ import annotations

import os
from typing import Any, Iterable

import numpy as np

from faultlens.instrumenter.trace import Event, read_tables


def _as_xy(obj: Any) -> tuple[np.ndarray, np.ndarray]:
    """Normalise what a ``series`` call returned into ``(steps, values)`` float arrays.

    Accepted: a ``(steps, values)`` tuple, an object with ``steps``/``values`` attributes,
    a dict with ``steps``/``values`` keys, or a 2-column array."""
    if obj is None:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    if isinstance(obj, tuple) and len(obj) == 2:
        s, v = obj
    elif hasattr(obj, "steps") and hasattr(obj, "values") and not isinstance(obj, dict):
        s, v = obj.steps, obj.values
        if callable(v):  # e.g. a pandas object: .values is an attribute there, but be safe
            v = v()
    elif isinstance(obj, dict) and "steps" in obj and "values" in obj:
        s, v = obj["steps"], obj["values"]
    else:
        arr = np.asarray(obj, dtype=float)
        if arr.ndim == 2 and arr.shape[1] == 2:
            s, v = arr[:, 0], arr[:, 1]
        else:
            v = arr.reshape(-1)
            s = np.arange(len(v))
    s = np.asarray(s, dtype=np.int64).reshape(-1)
    v = np.asarray(v, dtype=float).reshape(-1)
    n = min(len(s), len(v))
    s, v = s[:n], v[:n]
    if n > 1 and np.any(np.diff(s) < 0):
        order = np.argsort(s, kind="stable")
        s, v = s[order], v[order]
    return s, v


def _as_event(row: Any) -> Event:
    if isinstance(row, Event):
        return row
    if isinstance(row, dict):
        g = row.get
    elif hasattr(row, "_asdict"):
        d = row._asdict()
        g = d.get
    elif hasattr(row, "event") and hasattr(row, "step"):
        def g(k, default=None, _r=row):
            return getattr(_r, k, default)
    else:  # a plain sequence in table column order
        seq = list(row) + [None] * 6
        d = dict(zip(("step", "seq", "event", "node", "training", "grad_enabled"), seq))
        g = d.get

    def b(x):
        return None if x is None else bool(x)

    return Event(int(g("step") or 0), int(g("seq") or 0), str(g("event")), g("node"),
                 b(g("training")), b(g("grad_enabled")))


class TraceView:
    """Columnar, cached access to a trace (see module docstring)."""

    def __init__(self) -> None:
        self.meta: dict[str, Any] = {}
        self._series: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        self._nodes: dict[str, list[str]] = {}
        self.events: list[Event] = []
        self.path: str | None = None

    # ---------------------------------------------------------------- construction
    @classmethod
    def of(cls, trace: Any) -> "TraceView":
        """Wrap a trace: a TraceView, a sqlite path, or a Trace-like object."""
        if isinstance(trace, TraceView):
            return trace
        if isinstance(trace, (str, os.PathLike)):
            return cls.from_sqlite(os.fspath(trace))
        return cls.from_object(trace)

    @classmethod
    def from_sqlite(cls, path: str) -> "TraceView":
        """Read a trace database (``sqlite3.DatabaseError`` when it has no trace tables)."""
        tv = cls()
        tv.path = path
        tv.meta, keys, data, events = read_tables(path, strict=False)
        for m, n in keys:
            tv._nodes.setdefault(m, []).append(n)
        tv._series = data
        tv._fix_degenerate_steps()
        tv.events = sorted(events, key=lambda e: (e.step, e.seq))
        return tv

    @classmethod
    def from_object(cls, trace: Any) -> "TraceView":
        tv = cls()
        tv.path = getattr(trace, "path", None)
        meta = getattr(trace, "meta", {}) or {}
        tv.meta = dict(meta() if callable(meta) else meta)
        data = getattr(trace, "data", None)
        if isinstance(data, dict) and all(isinstance(k, tuple) and len(k) == 2 for k in data):
            for (m, n), xy in data.items():
                tv._nodes.setdefault(m, []).append(n)
                tv._series[(m, n)] = _as_xy(xy)
        else:
            metrics = trace.metrics() if callable(getattr(trace, "metrics", None)) else []
            names: list[str] = []
            for m in metrics:  # metric names, or (metric, node) pairs
                m = m[0] if isinstance(m, tuple) else m
                if m not in names:
                    names.append(m)
            for m in names:
                nodes = list(trace.nodes(m)) if callable(getattr(trace, "nodes", None)) else [None]
                tv._nodes[m] = [n for n in nodes]
                for n in nodes:
                    tv._series[(m, n)] = _as_xy(trace.series(m, n))
        tv._fix_degenerate_steps()
        ev = getattr(trace, "events", None)
        ev = ev() if callable(ev) else ev
        tv.events = [_as_event(r) for r in _iter_rows(ev)]
        tv.events.sort(key=lambda e: (e.step, e.seq))
        for attr in ("status", "steps", "crash"):
            val = getattr(trace, attr, None)
            val = val() if callable(val) else val
            if val is not None:
                tv.meta[attr] = val
        return tv

    def _fix_degenerate_steps(self) -> None:
        """When the run's step counter never advanced (e.g. no nn.Module was watched: a
        functional model), every record carries step 0. Number such series by record order
        instead, so that curve symptoms still see a curve; ``steps`` then counts records of
        the longest such series (noted in ``meta['steps_from_records']``)."""
        if int(self.meta.get("steps") or 0) >= 2:
            return  # the counter advanced: repeated steps are genuine (several records at one step)
        longest = 0
        for key, (s, v) in list(self._series.items()):
            if len(s) >= 10 and s[0] == s[-1]:
                self._series[key] = (np.arange(len(s), dtype=np.int64), v)
                longest = max(longest, len(s))
        if longest and int(self.meta.get("steps") or 0) < 2:
            self.meta["steps"] = longest
            self.meta["steps_from_records"] = True

    # ---------------------------------------------------------------- queries
    @property
    def status(self) -> str:
        return str(self.meta.get("status") or "finished")

    @property
    def crash(self) -> dict[str, Any] | None:
        c = self.meta.get("crash")
        return c if isinstance(c, dict) and c else None

    @property
    def steps(self) -> int:
        s = self.meta.get("steps")
        if isinstance(s, (int, float)) and s == s:
            return int(s)
        top = -1
        for st, _ in self._series.values():
            if len(st):
                top = max(top, int(st.max()))
        for e in self.events:
            top = max(top, e.step)
        return top + 1

    def metrics(self) -> list[str]:
        return [m for m, ns in self._nodes.items() if ns]

    def nodes(self, metric: str) -> list[str]:
        return list(self._nodes.get(metric, []))

    def has(self, metric: str) -> bool:
        return bool(self._nodes.get(metric))

    def series(self, metric: str, node: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)`` for one node; with ``node=None`` the node with the most records
        (the first recorded among equals): a module called once before training (a tutorial's
        demo layer) must not stand for the model that trains."""
        if node is None:
            ns = self._nodes.get(metric) or []
            if not ns:
                return np.zeros(0, dtype=np.int64), np.zeros(0)
            node = max(ns, key=lambda n: len(self.series(metric, n)[0]))
        return self._series.get((metric, node), (np.zeros(0, dtype=np.int64), np.zeros(0)))

    def all_series(self, metric: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {n: self.series(metric, n) for n in self.nodes(metric)}

    def loss(self) -> tuple[np.ndarray, np.ndarray]:
        """The training loss; when several loss nodes were recorded, the longest series."""
        return self.series("loss")

    def steps_by_iteration(self) -> dict[int, list[Event]]:
        out: dict[int, list[Event]] = {}
        for e in self.events:
            out.setdefault(e.step, []).append(e)
        return out


def _iter_rows(ev: Any) -> Iterable[Any]:
    if ev is None:
        return []
    if isinstance(ev, dict):  # columnar: {"step": [...], "event": [...], ...}
        cols = list(ev.keys())
        n = len(ev[cols[0]]) if cols else 0
        return [{c: _py(ev[c][i]) for c in cols} for i in range(n)]
    if isinstance(ev, np.ndarray) and ev.dtype.names:
        return [{c: _py(r[c]) for c in ev.dtype.names} for r in ev]
    if hasattr(ev, "to_dict") and hasattr(ev, "columns"):  # a DataFrame
        return ev.to_dict("records")
    return list(ev)


def _py(x: Any) -> Any:
    return x.item() if isinstance(x, np.generic) else x
