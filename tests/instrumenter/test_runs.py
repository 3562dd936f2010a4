"""Running programs instrumented in this process: identity, crashes, odd programs, budgets."""
from __future__ import annotations

import runpy
import sys

import numpy as np
import pytest
import torch

from .conftest import has_graph

EVENTS_NEEDED = {"forward", "loss", "backward", "step"}


def _events(trace):
    return {e.event for e in trace.events}


def test_identity_bit_identical_parameters(programs, run_inproc, tmp_path, monkeypatch):
    """A seeded program trains to bit-identical parameters with and without the probes
    (dropout, batch norm, shuffled loader, Adam, no_grad evaluation)."""
    prog = programs / "mlp_seeded.py"
    plain_out, inst_out = tmp_path / "plain.pt", tmp_path / "inst.pt"
    monkeypatch.setattr(sys, "argv", [str(prog), str(plain_out)])
    runpy.run_path(str(prog), run_name="__main__")
    monkeypatch.undo()
    # sample every step and measure curvature too: the most intrusive configuration
    res, trace = run_inproc(prog, [str(inst_out)], curvature=True, sample_every=1)
    assert res.status == "finished", res.crash
    assert res.probe_errors == []
    assert trace.has("act_mean") and trace.has("update_ratio") and trace.has("val_loss")
    a, b = torch.load(plain_out), torch.load(inst_out)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_metrics_and_events(programs, run_inproc):
    res, t = run_inproc(programs / "mlp_seeded.py")
    assert res.status == "finished" and res.steps == 24  # 3 epochs x 8 batches
    s, v = t.series("loss")
    assert s.tolist() == list(range(24)) and np.all(np.isfinite(v))
    assert t.values("accuracy").max() <= 1.0
    assert len(t.series("val_loss")[0]) == 3
    assert t.has("lr") and t.has("grad_norm_total") and t.has("grad_norm") and t.has("weight_norm")
    assert t.has("input_mean") and t.has("target_max") and t.last("target_is_int") == 1.0
    # zero fraction after the functional relu comes from the graph flow when a graph exists
    assert t.has("act_zero_frac") == has_graph()
    assert EVENTS_NEEDED | {"zero_grad", "train", "eval", "eval_forward"} <= _events(t)
    # order within an iteration: forward, loss, backward, step
    step1 = [e.event for e in t.events_at(1) if e.event in EVENTS_NEEDED]
    assert step1[:4] == ["forward", "loss", "backward", "step"]
    evals = [e for e in t.events if e.event == "eval_forward"]
    assert all(e.grad_enabled is False and e.training is False for e in evals)
    fw = [e for e in t.events if e.event == "forward"]
    assert all(e.grad_enabled and e.training for e in fw)


def test_crash_shape_mismatch_maps_to_user_line_and_layer(programs, run_inproc):
    res, t = run_inproc(programs / "crash_shape.py")
    assert res.status == "crashed" and t.status == "crashed"
    c = res.crash
    assert c["kind"] == "shape_mismatch"
    assert c["path"].endswith("crash_shape.py") and c["line"] == 15   # return self.fc2(h)
    assert c["layer"] is not None and c["layer"].split("#")[-1].endswith("fc2")
    assert c["step"] == 0 and "mat1 and mat2" in c["message"]
    if has_graph():
        assert "fc2" in c["layer"] and c["layer"].startswith("layer:")
    assert t.crash == c


def test_crash_dtype(programs, run_inproc):
    res, _ = run_inproc(programs / "crash_dtype.py")
    assert res.status == "crashed"
    assert res.crash["kind"] == "dtype"
    assert res.crash["line"] == 13      # out = model(x)
    if has_graph():
        assert res.crash["node"] is not None


@pytest.mark.parametrize("code,status", [(None, "finished"), ("3", "crashed")])
def test_sys_exit(programs, run_inproc, code, status):
    res, t = run_inproc(programs / "exits.py", [] if code is None else [code])
    assert res.status == status and t.status == status
    assert res.stop_reason == "exit"
    assert res.returncode == (0 if code is None else 3)
    assert res.probe_errors == []


def test_nan_early_stop(programs, run_inproc):
    res, t = run_inproc(programs / "nan_lr.py")
    assert res.status == "cut_short" and res.stop_reason == "settled"
    assert t.meta["settled"]["rule"] == "nonfinite_loss"
    assert res.steps < 30
    v = t.values("loss")
    assert not np.all(np.isfinite(v))
    res2, _ = run_inproc(programs / "nan_lr.py", early_stop=False, max_steps=60)
    assert res2.stop_reason == "max_steps" and res2.steps == 60


@pytest.mark.parametrize("name,argv", [
    ("loader_workers.py", []),
    ("gan.py", []),
    ("grad_accum.py", []),
    ("lbfgs.py", []),
    ("no_optimizer.py", []),
    ("pkg/train.py", ["--epochs", "2"]),
    ("pkg2/main.py", []),
    ("mlp_seeded.py", []),
])
def test_odd_programs_run_without_probe_errors(programs, run_inproc, name, argv):
    res, t = run_inproc(programs / name, argv)
    assert res.status == "finished", (res.crash, res.stdout_tail)
    assert res.probe_errors == []
    assert res.steps > 0
    assert {"forward", "backward"} <= _events(t)
    assert len(t.values("loss")) > 0


def test_gan_counts_iterations_not_forwards(programs, run_inproc):
    res, t = run_inproc(programs / "gan.py")
    assert res.steps == 30
    assert len(t.nodes("grad_norm_total")) == 2   # generator and discriminator


def test_grad_accumulation_counts_optimizer_steps(programs, run_inproc):
    res, t = run_inproc(programs / "grad_accum.py")
    assert res.steps == 6          # 24 micro-batches / 4
    assert "clip" in _events(t)


def test_model_in_other_file_and_cwd(programs, run_inproc):
    res, t = run_inproc(programs / "pkg" / "train.py", ["--epochs", "1"])
    assert res.status == "finished"
    assert (programs / "pkg" / "out.txt").read_text() == "ok"    # relative path = program's cwd
    assert "model" not in sys.modules or "pkg" not in str(getattr(sys.modules["model"], "__file__", ""))
    if has_graph():
        # the nested Block's layers map to their graph nodes through class_ref
        layers = [n for n in t.nodes("act_mean") if n and n.startswith("layer:")]
        assert any("model.py" in n for n in layers)


def test_max_steps_budget(programs, run_inproc):
    res, t = run_inproc(programs / "slow_loop.py", max_steps=7)
    assert res.status == "cut_short" and res.stop_reason == "max_steps" and res.steps == 7
    assert t.series("loss")[0].tolist() == list(range(7))


def test_max_seconds_budget(programs, run_inproc):
    res, _ = run_inproc(programs / "slow_loop.py", max_seconds=0.5)
    assert res.status == "cut_short" and res.stop_reason == "max_seconds"
    assert res.steps > 0


def test_runtime_state_is_reset(programs, run_inproc):
    import faultlens.instrumenter.runtime as rt
    before = (torch.nn.Module.train, torch.optim.Optimizer.zero_grad, torch.autograd.backward)
    run_inproc(programs / "crash_shape.py")
    assert not rt.active()
    assert (torch.nn.Module.train, torch.optim.Optimizer.zero_grad, torch.autograd.backward) == before
    from torch.optim.optimizer import _global_optimizer_post_hooks, _global_optimizer_pre_hooks
    assert not _global_optimizer_pre_hooks and not _global_optimizer_post_hooks


def _in_graph(node: str, graph) -> bool:
    """A trace node is a graph id, or a graph id followed by documented '#' suffixes."""
    cur = node
    while True:
        if cur in graph:
            return True
        if "#" not in cur:
            return False
        cur = cur.rsplit("#", 1)[0]


@pytest.mark.skipif(not has_graph(), reason="needs faultlens.analyzer.build_graph")
@pytest.mark.parametrize("name,argv", [("mlp_seeded.py", []), ("pkg/train.py", ["--epochs", "1"]),
                                       ("gan.py", []), ("no_optimizer.py", []), ("twin_blocks.py", []),
                                       ("pkg2/main.py", [])])
def test_trace_keyed_by_graph_node_ids(programs, run_inproc, name, argv):
    res, t = run_inproc(programs / name, argv)
    assert res.status == "finished" and res.graph is not None
    nodes = {n for _, n in t.metrics()} | {e.node for e in t.events if e.node}
    assert nodes
    missing = sorted(n for n in nodes if not _in_graph(n, res.graph))
    assert missing == []
    # layer statistics land on graph layer nodes, not only on model#path fallbacks
    if name not in ("gan.py", "no_optimizer.py", "pkg2/main.py"):
        assert any(n.startswith("layer:") for n in t.nodes("act_mean"))


@pytest.mark.skipif(not has_graph(), reason="needs faultlens.analyzer.build_graph")
def test_two_instances_of_one_block_do_not_collide(programs, run_inproc):
    _, t = run_inproc(programs / "twin_blocks.py")
    lin = [n for n in t.nodes("grad_norm") if "Block.lin" in n]
    assert len(lin) == 4 and len(set(lin)) == 4      # a.lin / b.lin x weight / bias
    assert all(len(t.series("grad_norm", n)[0]) == len(set(t.series("grad_norm", n)[0].tolist())) for n in lin)


@pytest.mark.skipif(not has_graph(), reason="needs faultlens.analyzer.build_graph")
def test_objects_built_in_another_local_file_are_watched(programs, run_inproc):
    """helpers.build() creates model, optimizer and loss: they are watched through an
    in-memory rewrite of helpers.py served by an import hook; the file itself is untouched."""
    before = (programs / "pkg2" / "helpers.py").read_text()
    res, t = run_inproc(programs / "pkg2" / "main.py")
    assert res.status == "finished" and res.steps == 12
    w = t.meta["watched"]
    assert w["models"] and w["optimizers"] and w["losses"]
    assert all("helpers.py" in n for n in w["models"] + w["optimizers"] + w["losses"])
    assert len(t.values("lr")) == 12
    assert (programs / "pkg2" / "helpers.py").read_text() == before
    assert "helpers" not in sys.modules


def test_lbfgs_counts_each_closure_evaluation(programs, run_inproc):
    """LBFGS updates the parameters between the evaluations of one step(closure) call (at most
    max_iter=5 here), so each evaluation is an iteration of its own."""
    res, t = run_inproc(programs / "lbfgs.py")
    assert res.steps == 41       # 8 calls of 5 evaluations + the final closure() forward after the loop
    assert t.meta["closure_evaluations"] == 32  # the evaluations after each call's first
    assert sum(e.event == "step" for e in t.events) == 40
    assert len(t.series("lr")[0]) == 8  # the optimizer's own hooks still run once a call


def test_raw_tensor_training_counts_backward_iterations(programs, run_inproc):
    res, t = run_inproc(programs / "raw_tensors.py", max_steps=25)
    assert res.status == "cut_short" and res.steps == 25
    assert res.probe_errors == []


def test_eval_mode_left_on_is_still_training_loss(programs, run_inproc):
    """Losses that a backward reaches are training losses even with the model in eval mode;
    grad-enabled losses in eval mode that no backward reaches are validation losses."""
    res, t = run_inproc(programs / "eval_mode_bug.py")
    # a grad-enabled forward after an optimizer step opens the next iteration (docs/trace.md),
    # so each epoch's evaluation shares an iteration with the next epoch's first batch
    assert res.status == "finished" and res.steps == 17
    s, _ = t.series("loss")
    assert s.tolist() == list(range(16))
    vs, _ = t.series("val_loss")
    assert vs.tolist() == [4, 8, 12, 16]
    fw = [e for e in t.events if e.event == "forward"]
    assert not fw[-1].training and fw[0].training        # the trace shows the mode
