"""Feature extraction on synthetic traces and on one small real trace."""
import math
import os

import numpy as np
import pytest

from faultlens.instrumenter.trace import Event, Trace
from faultlens.models.features import GROUPS, extract, group_of

FIX = os.path.join(os.path.dirname(__file__), "..", "corpus", "fixtures", "tiny_mlp.py")


def _trace(loss, *, grad=None, events=True, lr=0.1):
    n = len(loss)
    st = np.arange(n)
    data = {("loss", "loss:a:1:l"): (st, np.asarray(loss, float)),
            ("lr", "opt:a:2:o#g0"): (st, np.full(n, lr)),
            ("opt_step", "opt:a:2:o"): (st, np.arange(1, n + 1, dtype=float))}
    if grad is not None:
        data[("grad_norm_total", "model:a:3:m")] = (st, np.asarray(grad, float))
    evs = []
    if events:
        for s in range(n):
            for q, e in enumerate(("forward", "loss", "zero_grad", "backward", "step")):
                evs.append(Event(s, q, e, None, True, True))
    return Trace(meta={"status": "finished", "steps": n}, data=data, events=evs)


def test_groups_and_names():
    f = extract(_trace(np.linspace(2, 0.1, 50), grad=np.linspace(1, 0.5, 50)), None)
    assert all(group_of(k) in GROUPS for k in f)
    assert all(isinstance(v, float) for v in f.values())
    assert f["loss.log_ratio"] < -1 and f["loss.nonfinite"] == 0.0
    assert f["event.zero_grad_frac"] == 1.0 and f["opt.steps_per_iter"] == 1.0
    assert f["opt.lr_log10"] == pytest.approx(-1.0)


def test_features_are_scale_free():
    base = np.abs(np.sin(np.arange(60))) * 0.1 + np.linspace(3, 1, 60)
    f1 = extract(_trace(base), None)
    f2 = extract(_trace(base * 1000.0), None)
    for k in ("loss.last_over_first", "loss.slope_early", "loss.frac_increasing", "loss.tail_cv"):
        assert f1[k] == pytest.approx(f2[k], rel=1e-6), k


def test_divergence_and_missing_step():
    loss = [2.0, 3.0, 10.0, 1e4, float("nan"), float("nan")]
    f = extract(_trace(loss), None)
    assert f["loss.nonfinite"] == 1.0
    assert f["loss.first_nonfinite_frac"] == pytest.approx(4 / 6)
    t = _trace(np.linspace(2, 1.9, 20))
    t.events = [e for e in t.events if e.event != "step"]
    assert extract(t, None)["event.step_frac"] == 0.0


@pytest.mark.slow
def test_extract_on_a_real_trace(tmp_path):
    from faultlens.analyzer import build_graph  # noqa: F401 - skip cleanly if the analyzer is missing
    from faultlens.instrumenter.runner import execute
    from faultlens.instrumenter.trace import load_trace

    tp = str(tmp_path / "trace.sqlite")
    res = execute(FIX, ["--seed", "0"], tp, tee=False)
    trace = load_trace(tp)
    f = extract(trace, res.graph)
    groups = {group_of(k) for k, v in f.items() if not math.isnan(v)}
    assert {"loss", "grad", "weight", "opt", "event", "data", "static"} <= groups
    assert f["static.loss_ce"] == 1.0 and f["static.opt_sgd"] == 1.0
    assert f["event.step_frac"] > 0.9
