"""The loss of an iteration is whatever ``.backward()`` is called on (hand-written losses have
no criterion to watch), and ``--max-seconds`` bounds the whole command, not only training."""
from __future__ import annotations

import json
import sqlite3
import time

import numpy as np
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


def test_targets_given_to_a_model_that_computes_its_own_loss_are_recorded(programs, run_inproc):
    """No loss call is watched (the loss is computed inside the model's forward): the targets
    the forward was given, positionally or as ``targets=``, are the loss's targets, and the
    entropy of their class frequencies (ignored positions left out) is recorded with them."""
    res, t = run_inproc(programs / "own_loss.py", seed=0, sample_every=1)
    assert res.status == "finished" and res.steps == 30
    s, tmax = t.series("target_max")
    assert len(s) >= 10 and set(tmax.tolist()) <= set(range(12))
    _, tmin = t.series("target_min")
    assert tmin.min() == -1.0                # the statistics are of the tensor as given
    _, h = t.series("target_entropy")
    assert len(h) and 0 < h[-1] <= float(np.log(12)) + 0.1


def test_label_entropy_of_counts():
    import torch

    from faultlens.instrumenter.probes.batch import entropy_of_counts, label_counts

    c = label_counts(torch.tensor([0, 0, 1, 1, -100, 3]))
    assert c.tolist() == [2.0, 2.0, 0.0, 1.0]
    # plug-in entropy of (2/5, 2/5, 1/5) plus the Miller-Madow term (3 - 1) / (2 * 5)
    p = np.array([0.4, 0.4, 0.2])
    assert entropy_of_counts(c) == pytest.approx(float(-(p * np.log(p)).sum()) + 0.2)
    assert label_counts(torch.tensor([0.0, 1.0, 1.0])).tolist() == [1.0, 2.0]
    assert label_counts(torch.tensor([0.2, 1.0])) is None          # soft targets
    assert label_counts(torch.tensor([True, False])) is None


def test_which_forward_arguments_are_taken_for_targets():
    import torch

    from faultlens.instrumenter.probes.batch import forward_targets

    x = torch.randn(4, 3)
    idx = torch.tensor([0, 2, 1, 1])
    assert forward_targets(x, (x, idx), {}) is idx                      # model(x, targets)
    assert forward_targets(x, (x,), {"labels": idx}) is idx             # model(x, labels=...)
    assert forward_targets(x, (x, torch.randn(4, 3)), {}) is None       # a float second input
    assert forward_targets(x, (x, idx[:2]), {}) is None                 # not the batch size
    assert forward_targets(x, (x,), {"y": idx}) is None                 # a second input, named y


def test_a_loss_function_of_the_programs_own_is_watched_at_its_call(programs, run_inproc):
    """``loss = loss_func(model(xb), yb)`` with ``loss_func = nll`` defined in the program: the
    call is a loss node and its input and target are recorded (accuracy, the targets'
    statistics), once per iteration; the loss of the small, fast loop is recorded at every
    step and its accuracy on many of them (the every-step probes' floor, no --seed)."""
    from faultlens.analyzer import build_graph

    g = build_graph(str(programs / "scratch_loss_fn.py"))
    (ln,) = g.nodes("loss")
    assert ln.get("user_fn") == "nll" and ln.get("functional") and ln.span.line == 31
    res, t = run_inproc(programs / "scratch_loss_fn.py")
    assert res.status == "finished" and res.steps == 80
    assert len(t.series("loss")[0]) == 80
    assert sum(1 for e in t.events if e.event == "loss") == 80
    s, acc = t.series("accuracy")
    assert len(s) >= 30 and acc[-5:].mean() > 0.8
    assert t.series("target_max")[1].max() == 3


def test_a_loss_function_given_the_raw_batch_records_its_value_only(programs, run_inproc):
    """``compute_loss(xb, yb)`` runs the model inside: its first argument carries no gradient,
    so the call is not read as (prediction, target); the criterion inside it is watched."""
    res, t = run_inproc(programs / "raw_input_loss_fn.py")
    assert res.status == "finished" and res.steps == 40
    assert len(t.series("loss")[0]) == 40
    nodes = {e.node for e in t.events if e.event == "loss"}
    assert nodes and all("cross_entropy" in n for n in nodes)
