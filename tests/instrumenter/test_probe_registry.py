"""Probes register through the one registry mechanism; a run's selection reads each class's
``opt_in`` (curvature only with --curvature) and runs them in ``order``; probes reach the run
only through the probe context."""
from __future__ import annotations

import pytest

from faultlens.instrumenter.probes import REGISTRY, Probe, register, select

DEFAULT = ["loss", "accuracy", "batch", "activations", "gradients", "weights", "optimizer", "custom_gradient"]


def test_default_and_opt_in_selection_in_order():
    assert set(REGISTRY) == set(DEFAULT) | {"curvature"}
    assert [c.name for c in select({})] == DEFAULT
    assert [c.name for c in select({"curvature": False})] == DEFAULT
    assert [c.name for c in select({"curvature": True})] == DEFAULT + ["curvature"]
    assert [c.name for c in select({"curvature": 0.3})] == DEFAULT + ["curvature"]
    assert [c.name for c in REGISTRY.values() if c.opt_in] == ["curvature"]


def test_a_bad_or_duplicate_probe_is_refused():
    class NoName(Probe):
        pass

    class BadGate(Probe):
        name = "bad_gate"
        gates = {"on_loss": "sometimes"}

    class Loss2(Probe):
        name = "loss"

    for cls in (NoName, BadGate):
        with pytest.raises(ValueError):
            register(cls)
    with pytest.raises(RuntimeError, match="duplicate probe 'loss'"):
        register(Loss2)
    assert "bad_gate" not in REGISTRY and REGISTRY["loss"].__name__ == "LossProbe"


def test_a_run_hands_its_probes_the_context_and_records_the_selection(tmp_path):
    from faultlens.instrumenter import runtime
    from faultlens.instrumenter.context import ProbeContext
    from faultlens.instrumenter.trace import load_trace

    for curvature, names in ((False, DEFAULT), (True, DEFAULT + ["curvature"])):
        S = runtime.configure(trace_path=str(tmp_path / f"t{curvature}.sqlite"), curvature=curvature)
        try:
            assert [p.name for p in S.probes] == names
            assert all(type(p.ctx) is ProbeContext and p.ctx is S.ctx for p in S.probes)
            assert S.keep_last_batch is curvature   # only curvature recomputes the last batch
            runtime.finish("finished")
        finally:
            runtime.reset()
        meta = load_trace(str(tmp_path / f"t{curvature}.sqlite")).meta
        assert meta["probes"] == names and meta["curvature"] is curvature
