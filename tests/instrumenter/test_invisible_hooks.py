"""What the probes attach must be invisible to the program: a model saved whole, deep-copied,
scripted, printed or compared behaves under ``faultlens run`` exactly as under ``python``
(issue: a ``torch.save(model)`` under faultlens pickled the probes' hooks)."""
from __future__ import annotations

import copy
import pickle
import pickletools
import runpy
import sys
import zipfile

import torch

PROG = "save_whole_model.py"


def _globals_in(pt_path):
    """Module names of every global a torch.save file's pickle refers to."""
    with zipfile.ZipFile(pt_path) as zf:
        name = next(n for n in zf.namelist() if n.endswith("data.pkl"))
        data = zf.read(name)
    mods, strings = set(), []
    for op, arg, _ in pickletools.genops(data):
        if op.name == "GLOBAL":
            mods.add(arg.split(" ")[0].split(".")[0])
        elif op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings.append(arg)
        elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
            mods.add(strings[-2].split(".")[0])
    return mods


def test_model_saved_copied_scripted_as_under_python(programs, run_inproc, tmp_path, monkeypatch):
    prog = programs / PROG
    plain, watched = tmp_path / "plain.txt", tmp_path / "watched.txt"
    monkeypatch.setattr(sys, "argv", [str(prog), str(plain)])
    runpy.run_path(str(prog), run_name="__main__")
    monkeypatch.undo()
    res, trace = run_inproc(prog, [str(watched)], sample_every=1)
    assert res.status == "finished", res.crash
    assert res.probe_errors == []
    # the probes did watch the model and its layers
    assert trace.has("act_mean") and trace.has("grad_norm_total")
    assert {"forward", "loss", "backward", "step"} <= {e.event for e in trace.events}
    text = watched.read_text()
    assert text == plain.read_text()
    assert "mentions faultlens: True" not in text
    assert "hooks: 0 0 0" in text and "deepcopy hooks: 0 0" in text
    assert "faultlens" not in _globals_in(str(watched) + ".pt")
    assert _globals_in(str(watched) + ".pt") == _globals_in(str(plain) + ".pt")


def test_hooks_run_from_the_runtime_table_and_leave_with_reset(tmp_path):
    """While a run is configured, watched modules carry no hook of their own; after reset()
    ``nn.Module.__call__`` is torch's again."""
    from faultlens.instrumenter import runtime

    orig_call = torch.nn.Module.__call__
    net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    S = runtime.configure(trace_path=str(tmp_path / "t.sqlite"), sample_every=1)
    try:
        runtime.watch_model(net)
        crit = runtime.watch_loss(torch.nn.MSELoss())
        opt = runtime.watch_optimizer(torch.optim.SGD(net.parameters(), lr=0.1))
        for _ in range(3):
            opt.zero_grad()
            crit(net(torch.randn(8, 4)), torch.randn(8, 1)).backward()
            opt.step()
        assert S.step >= 2
        for m in list(net.modules()) + [crit]:
            assert not m._forward_hooks and not m._forward_pre_hooks
        twin = copy.deepcopy(net)
        assert id(twin) not in S.call_hooks  # the copy is not watched by accident
        assert b"faultlens" not in pickle.dumps(net)
        scripted = torch.jit.script(net)
        x = torch.randn(2, 4)
        assert torch.allclose(scripted(x), net(x))
        runtime.finish("finished")
    finally:
        runtime.reset()
    assert torch.nn.Module.__call__ is orig_call


def test_torch_compile_of_a_watched_model_runs(tmp_path):
    from faultlens.instrumenter import runtime

    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    runtime.configure(trace_path=str(tmp_path / "t.sqlite"), sample_every=1)
    try:
        runtime.watch_model(net)
        compiled = torch.compile(net, backend="eager")
        x = torch.randn(4, 4)
        assert torch.allclose(compiled(x), net(x))
        runtime.finish("finished")
    finally:
        runtime.reset()
