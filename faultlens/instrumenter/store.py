"""Trace writer: buffers scalars and events in memory, flushes them to SQLite in one transaction.

The database layout is :mod:`faultlens.instrumenter.schema`. The writer uses WAL journaling
with ``synchronous=OFF``: every committed flush survives the death of the process (SIGKILL,
OOM killer), since the OS already holds the written pages - only an OS crash or power loss
could drop recent transactions - so a killed run leaves every flushed step readable. Standard library only (no torch): the reader side and
the corpus builder import it cheaply.
"""
from __future__ import annotations

import json
import sqlite3
import time
from typing import Any, Iterable

from faultlens.instrumenter.schema import SCHEMA

DDL = (
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT)",
    "CREATE TABLE IF NOT EXISTS series_keys(id INTEGER PRIMARY KEY, metric TEXT, node TEXT,"
    " UNIQUE(metric, node))",
    "CREATE TABLE IF NOT EXISTS scalars(step INTEGER, key INTEGER, value REAL)",
    "CREATE TABLE IF NOT EXISTS events(step INTEGER, seq INTEGER, event TEXT, node TEXT,"
    " training INTEGER, grad_enabled INTEGER)",
)


class TraceWriter:
    """Append-only writer for one run's trace.

    ``flush_steps`` / ``flush_seconds``: :meth:`maybe_flush` commits once either that many
    steps were buffered or that much time passed since the last commit.
    """

    def __init__(self, path: str, *, flush_steps: int = 200, flush_seconds: float = 1.0):
        self.path = str(path)
        self.flush_steps = int(flush_steps)
        self.flush_seconds = float(flush_seconds)
        self._con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        # OFF: no fsync. A killed process loses nothing the OS already has (every committed
        # flush); only an OS crash or power loss could. fsyncs would cost ~1-3% of a short run.
        self._con.execute("PRAGMA synchronous=OFF")
        self._con.execute("PRAGMA journal_mode=WAL")
        # checkpoint at close, not every 1000 pages in the middle of training steps
        self._con.execute("PRAGMA wal_autocheckpoint=20000")
        with self._con:
            self._con.execute("BEGIN")
            for stmt in DDL:
                self._con.execute(stmt)
        self._keys: dict[tuple[str, str | None], int] = {}
        self._scalars: list[tuple[int, tuple[str, str | None], float]] = []
        self._events: list[tuple[int, int, str, str | None, int | None, int | None]] = []
        self._meta: dict[str, Any] = {}
        self._last_flush = time.monotonic()
        self._last_flush_step = 0
        self.closed = False
        self.set_meta(schema=SCHEMA)
        self.flush()

    # ------------------------------------------------------------------ buffering
    def scalar(self, step: int, metric: str, node: str | None, value: float) -> None:
        self._scalars.append((int(step), (metric, node), float(value)))

    def scalars(self, step: int, items: Iterable[tuple[str, str | None, float]]) -> None:
        s = int(step)
        self._scalars.extend((s, (m, n), float(v)) for m, n, v in items)

    def event(self, step: int, seq: int, event: str, node: str | None,
              training: bool | None, grad_enabled: bool | None) -> None:
        self._events.append((int(step), int(seq), event, node,
                             None if training is None else int(bool(training)),
                             None if grad_enabled is None else int(bool(grad_enabled))))

    def scalar_row(self, step: int, key: tuple[str, str | None], value: float) -> None:
        """:meth:`scalar` with a prebuilt ``(metric, node)`` key, an int step and a float value."""
        self._scalars.append((step, key, value))

    def event_row(self, row: tuple) -> None:
        """Append one ready row ``(step, seq, event, node, training, grad_enabled)``; ints,
        bools (stored as 0/1) and None only. The runtime's every-step path."""
        self._events.append(row)

    def set_meta(self, **items: Any) -> None:
        self._meta.update(items)

    def pending(self) -> int:
        return len(self._scalars) + len(self._events) + len(self._meta)

    # ------------------------------------------------------------------ flushing
    def flush_due(self, step: int) -> bool:
        """Would :meth:`maybe_flush` commit at ``step``?"""
        return (step - self._last_flush_step >= self.flush_steps
                or time.monotonic() - self._last_flush >= self.flush_seconds)

    def maybe_flush(self, step: int) -> bool:
        if self.flush_due(step):
            self.flush(step)
            return True
        return False

    def flush(self, step: int | None = None) -> None:
        """Commit everything buffered in one transaction."""
        if self.closed:
            return
        scalars, self._scalars = self._scalars, []
        events, self._events = self._events, []
        meta, self._meta = self._meta, {}
        con = self._con
        con.execute("BEGIN")
        try:
            rows = []
            for s, key, v in scalars:
                kid = self._keys.get(key)
                if kid is None:
                    cur = con.execute("INSERT OR IGNORE INTO series_keys(metric, node) VALUES (?, ?)", key)
                    if cur.lastrowid and cur.rowcount:
                        kid = cur.lastrowid
                    else:
                        kid = con.execute(
                            "SELECT id FROM series_keys WHERE metric=? AND node IS ?", key).fetchone()[0]
                    self._keys[key] = kid
                rows.append((s, kid, v))
            if rows:
                con.executemany("INSERT INTO scalars(step, key, value) VALUES (?, ?, ?)", rows)
            if events:
                con.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", events)
            if meta:
                con.executemany(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                    [(k, json.dumps(v, default=repr)) for k, v in meta.items()],
                )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        self._last_flush = time.monotonic()
        if step is not None:
            self._last_flush_step = step

    def close(self) -> None:
        if self.closed:
            return
        self.flush()
        try:
            self._con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass
        self._con.close()
        self.closed = True


def read_meta(path: str) -> dict[str, Any]:
    """The meta table of a trace as a dict (JSON values decoded)."""
    con = sqlite3.connect(str(path))
    try:
        return {k: json.loads(v) for k, v in con.execute("SELECT key, value FROM meta")}
    finally:
        con.close()
