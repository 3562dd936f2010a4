"""One reader of the trace database: ``load_trace`` and the symptoms' ``TraceView`` read through
``trace.read_tables`` and hold the same ``Event`` rows."""
from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from faultlens.errors import FaultlensError
from faultlens.instrumenter.store import TraceWriter
from faultlens.instrumenter.trace import Event, load_trace, read_tables
from faultlens.models.symptoms import Event as SymptomEvent
from faultlens.models.symptoms import TraceView


def _write(path):
    w = TraceWriter(str(path))
    w.set_meta(status="finished", steps=3)
    for s in range(3):
        w.event(s, 2 * s + 1, "forward", "m", True, True)
        w.event(s, 2 * s + 2, "step", "opt", None, False)
        w.scalar(s, "loss", "L", 1.0 / (s + 1))
        w.scalar(s, "lr", "opt#g0", 0.1)
    w.scalar(1, "loss", "L2", float("nan"))
    w.close()
    return path


def test_both_readers_give_the_same_series_and_events(tmp_path):
    p = _write(tmp_path / "t.sqlite")
    t = load_trace(str(p))
    tv = TraceView.of(str(p))
    assert SymptomEvent is Event and all(type(e) is Event for e in t.events + tv.events)
    assert t.events == tv.events and len(t.events) == 6
    assert tv.nodes("loss") == ["L", "L2"] and tv.metrics() == ["loss", "lr"]
    for (m, n), (s, v) in t.data.items():
        s2, v2 = tv.series(m, n)
        assert s.dtype == s2.dtype == np.int64 and s.tolist() == s2.tolist()
        np.testing.assert_array_equal(v, v2)
    assert np.isnan(t.series("loss", "L2")[1][0])
    # a Trace handed to TraceView keeps its Event objects
    assert TraceView.of(t).events == t.events


def test_strict_and_lenient_reading(tmp_path):
    empty = tmp_path / "empty.sqlite"
    sqlite3.connect(empty).close()   # a store that has not written its tables yet
    with pytest.raises(FaultlensError, match="not a faultlens trace"):
        load_trace(str(empty))
    with pytest.raises(sqlite3.DatabaseError):
        TraceView.of(str(empty))
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT)")
    con.execute("INSERT INTO meta VALUES ('schema', '\"other/9\"')")
    for ddl in ("CREATE TABLE series_keys(id INTEGER PRIMARY KEY, metric TEXT, node TEXT)",
                "CREATE TABLE scalars(step INTEGER, key INTEGER, value REAL)"):
        con.execute(ddl)
    con.commit()
    con.close()
    with pytest.raises(FaultlensError, match="unsupported trace schema"):
        load_trace(str(other))
    meta, keys, data, events = read_tables(str(other), strict=False)   # no events table: none
    assert meta == {"schema": "other/9"} and keys == [] and data == {} and events == []


def test_a_path_with_uri_characters_reads(tmp_path):
    d = tmp_path / "run #1?x=%20"
    d.mkdir()
    _write(d / "trace.sqlite")
    assert load_trace(str(d)).steps == 3 and TraceView.of(str(d / "trace.sqlite")).steps == 3
