"""Training in worker processes (faultlens/instrumenter/workers.py): a process whose target is
the program's own code records a trace shard that the parent's trace takes in at join."""
from __future__ import annotations

import pytest


@pytest.mark.parametrize("method", ["spawn", "fork", "mp.spawn"])
def test_a_workers_training_is_the_runs_training(programs, run_inproc, method):
    res, t = run_inproc(programs / "hogwild.py", [method, "0.1", "1"], max_seconds=60)
    assert res.status == "finished", res.crash
    # 3 epochs of 10 batches in the child, then the parent's evaluation
    assert res.steps == 31
    s, v = t.series("loss")
    assert len(v) == 30 and v[-1] < v[0]
    assert {"forward", "loss", "backward", "step", "zero_grad"} <= {e.event for e in t.events}
    w = t.meta["watched"]
    assert w["optimizers"] and w["losses"]  # the child's own optimizer and loss, rewritten there
    assert [p["merged"] for p in t.meta["processes"]] == [True]


def test_workers_beside_the_first_are_summarised_not_merged(programs, run_inproc):
    res, t = run_inproc(programs / "hogwild.py", ["spawn", "0.1", "2"], max_seconds=60)
    assert res.status == "finished", res.crash
    assert len(t.series("loss")[1]) == 30  # one loss per step: the first worker's
    procs = t.meta["processes"]
    assert [p["merged"] for p in procs] == [True, False] and [p["steps"] for p in procs] == [30, 30]


def test_a_workers_early_stop_is_the_runs_stop(programs, run_inproc):
    res, t = run_inproc(programs / "hogwild.py", ["fork", "nan", "1"], max_seconds=60)
    # lr=nan: SGD takes it, the loss goes non-finite and the early stop settles the worker
    assert res.status == "cut_short" and t.meta["stop_reason"] == "settled"
    assert t.meta["settled"]["rule"] == "nonfinite_loss"


def test_library_processes_are_not_wrapped(programs, run_inproc):
    # DataLoader workers run torch's worker loop, not the program's code
    res, t = run_inproc(programs / "loader_workers.py")
    assert res.status == "finished", res.crash
    assert not t.meta.get("processes")


def test_a_crash_in_the_worker_is_the_runs_crash(programs, run_inproc):
    # lr=-1: SGD refuses it in the worker, whose training never starts; the parent goes on
    res, t = run_inproc(programs / "hogwild.py", ["fork", "-1", "1"], max_seconds=60)
    assert res.status == "crashed"
    assert res.crash["type"] == "ValueError" and res.crash["path"].endswith("hogwild.py")
    assert t.meta["processes"][0]["status"] == "crashed"
