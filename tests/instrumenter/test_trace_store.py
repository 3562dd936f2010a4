"""Trace store: round trip, NaN/Inf values, schema check, and crash safety under SIGKILL."""
from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from faultlens.errors import FaultlensError
from faultlens.instrumenter.store import TraceWriter
from faultlens.instrumenter.trace import load_trace


def test_round_trip(tmp_path):
    p = tmp_path / "t.sqlite"
    w = TraceWriter(str(p), flush_steps=2)
    for step in range(5):
        w.scalar(step, "loss", "loss:a.py:3:crit", 1.0 / (step + 1))
        w.scalar(step, "lr", "optimizer:a.py:2:opt#g0", 0.1)
        w.event(step, 2 * step, "forward", "model:a.py:1:model", True, True)
        w.event(step, 2 * step + 1, "backward", None, None, True)
        w.maybe_flush(step)
    w.scalar(5, "loss", "loss:a.py:3:crit", math.nan)
    w.scalar(6, "loss", "loss:a.py:3:crit", math.inf)
    w.set_meta(status="finished", steps=7)
    w.close()
    t = load_trace(str(p))
    assert t.status == "finished" and t.steps == 7
    s, v = t.series("loss")
    assert s.tolist() == list(range(7))
    assert np.allclose(v[:5], [1, 1 / 2, 1 / 3, 1 / 4, 1 / 5])
    assert math.isnan(v[5]) and math.isinf(v[6])
    assert t.metrics() == [("loss", "loss:a.py:3:crit"), ("lr", "optimizer:a.py:2:opt#g0")]
    assert t.nodes("lr") == ["optimizer:a.py:2:opt#g0"]
    assert [e.event for e in t.events[:2]] == ["forward", "backward"]
    assert t.events[0].training is True and t.events[1].training is None
    arrays = t.to_dict_of_arrays()
    assert "loss@loss:a.py:3:crit" in arrays and "step:lr@optimizer:a.py:2:opt#g0" in arrays
    assert t.series("missing")[0].size == 0


def test_rejects_non_trace(tmp_path):
    p = tmp_path / "x.sqlite"
    p.write_text("not a database at all")
    with pytest.raises(FaultlensError):
        load_trace(str(p))
    with pytest.raises(FaultlensError):
        load_trace(str(tmp_path / "absent.sqlite"))


def test_sigkill_leaves_readable_trace(tmp_path):
    """A run killed with SIGKILL keeps every flushed step (WAL, one transaction per flush)."""
    trace = tmp_path / "killed.sqlite"
    prog = tmp_path / "prog.py"
    prog.write_text(textwrap.dedent("""
        import os, signal, time
        import torch, torch.nn as nn
        torch.set_num_threads(1)
        model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 1))
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        crit = nn.MSELoss()
        x, y = torch.randn(32, 16), torch.randn(32, 1)
        for step in range(100000):
            if step == 65:
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(0.03)  # 65 steps take ~2 s: at least one time-based flush (every second)
            opt.zero_grad()
            loss = crit(model(x), y)
            loss.backward()
            opt.step()
    """))
    driver = textwrap.dedent(f"""
        import torch
        from faultlens.instrumenter.runner import execute
        execute({str(prog)!r}, [], {str(trace)!r}, tee=False)
    """)
    proc = subprocess.run([sys.executable, "-c", driver], capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    t = load_trace(str(trace))
    assert t.status == "running"          # never finished
    s, v = t.series("loss")
    assert len(s) >= 20                   # flushed steps are there (a flush every second)
    assert np.all(np.diff(s) == 1) and np.all(np.isfinite(v))
    assert any(e.event == "step" for e in t.events)


def test_prebuilt_rows_round_trip(tmp_path):
    """The runtime's fast path (ready rows, bools stored as 0/1) reads back like event()/scalar()."""
    p = tmp_path / "rows.sqlite"
    w = TraceWriter(str(p))
    key = ("lr", "optimizer:a.py:2:opt#g0")
    for step in range(3):
        w.event_row((step, 2 * step, "forward", "model:a.py:1:model", True, True))
        w.event_row((step, 2 * step + 1, "eval_forward", "model:a.py:1:model", False, False))
        w.scalar_row(step, key, 0.1 * (step + 1))
    assert w.flush_due(w.flush_steps)
    w.close()
    t = load_trace(str(p))
    assert np.allclose(t.series("lr")[1], [0.1, 0.2, 0.3])
    assert [(e.step, e.event, e.training) for e in t.events[:2]] == [(0, "forward", True), (0, "eval_forward", False)]
    assert t.events[1].grad_enabled is False


def test_gated_probe_hooks_run_only_on_their_steps(tmp_path):
    """A hook gated "sampled"/"tier1" is neither called nor timed on other steps; ungated
    hooks run every step; a probe that raises is dropped from the hook table."""
    from faultlens.instrumenter import runtime
    from faultlens.instrumenter.probes import Probe

    calls: list[str] = []

    class Every(Probe):
        name = "every"

        def on_loss(self, *a):
            calls.append("every")

    class Sampled(Probe):
        name = "sampled"
        gates = {"on_loss": "sampled"}

        def on_loss(self, *a):
            calls.append("sampled")

    class Tier1(Probe):
        name = "tier1"
        gates = {"on_loss": "tier1"}

        def on_loss(self, *a):
            calls.append("tier1")
            raise ValueError("boom")

    S = runtime.RunState(trace_path=str(tmp_path / "g.sqlite"))
    try:
        S.probes = [Every(S), Sampled(S), Tier1(S)]
        S.hook_table.clear()
        S.sampled, S.tier1 = False, False
        S.run_probes("on_loss")
        assert calls == ["every"] and set(S.probe_seconds) == {"every"}
        S.sampled, S.tier1 = False, True
        S.run_probes("on_loss")
        assert calls[1:] == ["every", "tier1"] and "tier1" in S.disabled
        calls.clear()
        S.sampled, S.tier1 = True, True
        S.run_probes("on_loss")
        assert calls == ["every", "sampled"]   # the failed probe is not called again
    finally:
        S.writer.close()
