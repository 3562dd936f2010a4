"""With a seed, which steps the probes sample depends on the step count only: two runs of the
same program record the same series, whatever the probes cost on a loaded machine."""
from __future__ import annotations

import numpy as np


def _series(t):
    return {k: (s.tolist(), np.round(v, 6).tolist()) for k, (s, v) in t.data.items()}


def test_seeded_runs_record_the_same_trace(programs, run_inproc, monkeypatch):
    import faultlens.instrumenter.runtime as rt
    res1, t1 = run_inproc(programs / "mlp_seeded.py", seed=0)
    # a probe budget no run can meet: without the seed this postpones every sampled step
    monkeypatch.setattr(rt, "PROBE_BUDGET", 0.0)
    monkeypatch.setattr(rt, "TIER1_BUDGET", 0.0)
    res2, t2 = run_inproc(programs / "mlp_seeded.py", seed=0)
    assert res1.steps == res2.steps > 20
    assert t1.meta["deterministic"] is True
    assert _series(t1) == _series(t2)
    acc_steps = t1.series("accuracy")[0]
    assert len(acc_steps) == res1.steps           # the every-step tier ran on every step


def test_unseeded_sampling_keeps_its_time_budget(programs, run_inproc, monkeypatch):
    """Without a seed the probes stay within their time budget: with no budget at all only the
    dense first steps are sampled (and the seeded run above samples every 10th step)."""
    import faultlens.instrumenter.runtime as rt
    monkeypatch.setattr(rt, "PROBE_BUDGET", 0.0)
    res, t = run_inproc(programs / "mlp_seeded.py")
    assert t.meta["deterministic"] is False and res.steps > 20
    assert t.series("weight_norm")[0].tolist() == [0, 1, 2]
    res2, t2 = run_inproc(programs / "mlp_seeded.py", seed=0)
    assert t2.series("weight_norm")[0].tolist() == [0, 1, 2, 12, 22]
