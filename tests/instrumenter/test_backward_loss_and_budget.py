"""The loss of an iteration is whatever ``.backward()`` is called on (hand-written losses have
no criterion to watch), and ``--max-seconds`` bounds the whole command, not only training."""
from __future__ import annotations

import json
import sqlite3
import time

import pytest

from faultlens.instrumenter.runner import budget_reserve, run_program


@pytest.mark.parametrize("name, steps", [("hand_loss.py", 30), ("raw_tensors.py", 40)])
def test_hand_written_loss_is_recorded_from_backward(programs, run_inproc, name, steps):
    res, t = run_inproc(programs / name)
    assert res.status == "finished" and res.steps == steps
    s, v = t.series("loss")
    assert len(s) == steps and s.tolist() == list(range(steps))
    assert v[-1] < v[0]                      # the recorded values are the program's own loss
    assert sum(1 for e in t.events if e.event == "loss") == steps


def test_watched_criterion_is_not_recorded_twice(programs, run_inproc):
    res, t = run_inproc(programs / "slow_loop.py", max_steps=12)
    assert res.steps == 12
    assert sum(1 for e in t.events if e.event == "loss") == 12
    assert len(t.series("loss")[0]) == 12


def test_budget_reserve_keeps_time_for_the_diagnosis():
    assert budget_reserve(None) == 0.0
    assert budget_reserve(60) == pytest.approx(9.0)
    assert budget_reserve(4) == pytest.approx(2.0)        # at most half the budget
    assert all(0 < budget_reserve(b) <= b / 2 for b in (1, 5, 20, 120, 600))


def test_max_seconds_counts_from_the_command_start(programs):
    """Time spent before the child started (here: 3 s "already gone") is taken from training,
    and the reserve for the diagnosis is kept: the child's own budget is what is left."""
    budget = 120.0   # ample: the run ends at its step limit, long before
    started = time.time() - 3.0
    res = run_program(str(programs / "slow_loop.py"), max_seconds=budget, max_steps=40, stream=False,
                      out_dir=str(programs / "run"), started=started, cwd=str(programs))
    assert res.status == "cut_short" and res.stop_reason == "max_steps" and res.steps == 40
    con = sqlite3.connect(res.trace_path)
    meta = {k: json.loads(v) for k, v in con.execute("SELECT key, value FROM meta")}
    con.close()
    assert 0 < meta["max_seconds"] <= budget - 3.0 - budget_reserve(budget) + 1e-6


def test_endless_program_is_stopped_by_the_time_limit(programs):
    res = run_program(str(programs / "slow_loop.py"), max_seconds=30, stream=False, out_dir=str(programs / "run"),
                      cwd=str(programs))
    assert res.status == "cut_short" and res.stop_reason == "max_seconds" and res.steps > 0


def test_text_report_states_the_stop_reason(programs, tmp_path):
    from faultlens.report.pipeline import diagnose_result
    res = run_program(str(programs / "slow_loop.py"), max_steps=20, out_dir=str(tmp_path / "run"), stream=False,
                      cwd=str(programs))
    report, _ = diagnose_result(res, str(programs / "slow_loop.py"))
    assert report.stop_reason == "max_steps" and report.to_dict()["stop_reason"] == "max_steps"
    assert "stopped at the step limit (--max-steps) after 20 step(s)" in report.to_text()
