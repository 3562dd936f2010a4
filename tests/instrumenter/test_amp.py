"""Mixed precision: ``torch.autocast`` + ``torch.amp.GradScaler`` loops (on CPU: bfloat16
autocast, ``GradScaler("cpu")``; the wrappers are device-agnostic).

The probes must see what the program trains on: the loss unscaled (also a loss written by
hand, recorded at ``backward()`` on ``scaler.scale(loss)``), gradient norms unscaled (also
for a fused optimizer, which unscales inside its own step), every iteration its own step
even when the scaler skipped it, skipped steps counted and never read as a loop whose
optimizer does not step; a scale that collapses is the ``amp_scale_collapse`` symptom."""
from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
import torch

from faultlens.api import run

HEAD = '''
import json, sys
import torch
import torch.nn as nn
torch.manual_seed(0)
x = torch.randn(512, 16)
y = (x[:, 0] + x[:, 1] > 0).long()
'''

#: a clean AMP loop; FORCE lists the iterations whose gradient the program sets to inf (a
#: stand-in for an fp16 overflow: the scaler must skip exactly those)
LOOP = HEAD + '''
model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 2))
criterion = nn.CrossEntropyLoss()
optimizer = OPTIMIZER
scaler = torch.amp.GradScaler("cpu")
FORCE = set(FORCED)
losses, scales, it = [], [], 0
for epoch in range(EPOCHS):
    for i in range(0, 512, 64):
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = criterion(model(x[i:i + 64]), y[i:i + 64])
        losses.append(loss.item())
        scales.append(scaler.get_scale())
        scaler.scale(loss).backward()
        if it in FORCE:
            model[0].weight.grad[0, 0] = float("inf")
        scaler.step(optimizer)
        scaler.update()
        it += 1
json.dump({"losses": losses, "scales": scales}, open(sys.argv[1], "w"))
'''

#: the same loop with a loss written by hand (no criterion: recorded at backward())
HAND = HEAD + '''
yf = y.float()
model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
scaler = torch.amp.GradScaler("cpu")
losses = []
for epoch in range(4):
    for i in range(0, 512, 64):
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x[i:i + 64]).squeeze(1)
        loss = ((out.float() - yf[i:i + 64]) ** 2).mean()
        losses.append(loss.item())
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
json.dump({"losses": losses}, open(sys.argv[1], "w"))
'''

#: a hand-written activation whose derivative is wrong (1/x instead of 1/(1+x)): the forward
#: and the loss stay finite, every gradient is inf/NaN, so the scaler skips every step
COLLAPSE = HEAD + '''
class Log1p(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z):
        z = z.clamp(min=0)
        ctx.save_for_backward(z)
        return torch.log1p(z)

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        return g / z


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(16, 64)
        self.fc2 = nn.Linear(64, 2)

    def forward(self, v):
        return self.fc2(Log1p.apply(self.fc1(v)))


model = Net()
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
scaler = torch.amp.GradScaler("cpu")
for epoch in range(5):
    for i in range(0, 512, 64):
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = criterion(model(x[i:i + 64]), y[i:i + 64])
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
'''

SGD = "torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)"


def _loop(opt=SGD, forced=(), epochs=10):
    return LOOP.replace("OPTIMIZER", opt).replace("FORCED", repr(list(forced))).replace("EPOCHS", str(epochs))


def _run(tmp_path, name, src, **kw):
    p = tmp_path / f"{name}.py"
    p.write_text(textwrap.dedent(src))
    side = tmp_path / f"{name}.json"
    kw.setdefault("max_seconds", 120)
    rep = run(str(p), [str(side)], in_process=True, out_dir=str(tmp_path / f"run_{name}"), seed=0, **kw)
    own = json.loads(side.read_text()) if side.exists() else None
    return rep, rep.to_dict(), own


def _trace(rep):
    from faultlens.models.symptoms import TraceView
    return TraceView.of(rep.trace)


def _symptoms(d):
    return {s["symptom"] for s in d["symptoms"]}


def test_clean_amp_loop_is_healthy_with_the_loss_unscaled(tmp_path):
    rep, d, own = _run(tmp_path, "clean", _loop())
    assert d["verdict"] == "healthy", (d["faults"], d["symptoms"])
    assert d["faults"] == []
    tv = _trace(rep)
    s, loss = tv.loss()
    # every iteration is a step and its loss is the program's own loss.item(), not loss * scale
    assert len(loss) == len(own["losses"]) == 80
    np.testing.assert_allclose(loss, own["losses"], rtol=1e-6)
    (node,) = tv.nodes("amp_skipped")
    _, skipped = tv.series("amp_skipped", node)
    _, scale = tv.series("amp_scale", node)
    assert skipped.sum() == 0 and len(skipped) == 80
    np.testing.assert_allclose(scale, own["scales"])
    assert tv.meta["amp"]["skipped"] == 0 and tv.meta["amp"]["steps"] == 80
    assert any("GradScaler skipped 0 of 80" in n for n in d["notes"])


def test_a_hand_written_loss_is_recorded_unscaled(tmp_path):
    rep, d, own = _run(tmp_path, "hand", HAND)
    _, loss = _trace(rep).loss()
    np.testing.assert_allclose(loss, own["losses"], rtol=1e-6)
    assert max(loss) < 10  # loss * 65536 would be in the tens of thousands


def test_skipped_steps_are_counted_and_iterations_stay_apart(tmp_path):
    forced = (2, 5, 6, 40)
    rep, d, own = _run(tmp_path, "forced", _loop(forced=forced))
    tv = _trace(rep)
    (node,) = tv.nodes("amp_skipped")
    st, skipped = tv.series("amp_skipped", node)
    assert [int(x) for x in st[skipped > 0]] == list(forced)
    assert tv.meta["amp"]["skipped"] == len(forced) and tv.meta["amp"]["longest_skip_run"] == 2
    assert sum(e.event == "amp_skip" for e in tv.events) == len(forced)
    s, loss = tv.loss()
    assert len(loss) == 80  # a skipped iteration is still its own step (not merged into the next)
    np.testing.assert_allclose(loss, own["losses"], rtol=1e-6)
    # the scale halves on each skip: what the program itself saw
    np.testing.assert_allclose(tv.series("amp_scale", node)[1], own["scales"])
    _, opt_steps = tv.series("opt_step", tv.nodes("opt_step")[0])
    assert opt_steps[-1] == 80 - len(forced)
    assert d["verdict"] == "healthy", (d["faults"], d["symptoms"])
    assert not _symptoms(d) & {"missing_update", "nan_or_inf", "unchanged_weights", "amp_scale_collapse"}
    assert any("skipped 4 of 80" in n for n in d["notes"])


def test_every_step_skipped_is_no_training_loop_fault(tmp_path):
    """Fewer skipped steps than a collapse, all of them: the optimizer is called through the
    scaler every iteration, so this is not "optimizer.step() missing"."""
    rep, d, _ = _run(tmp_path, "allinf", _loop(forced=range(12), epochs=1).replace("range(0, 512, 64)",
                                                                                   "range(0, 512, 43)"))
    tv = _trace(rep)
    assert tv.meta["amp"]["skipped"] == 12 and not any(e.event == "step" for e in tv.events)
    assert "missing_update" not in _symptoms(d)
    assert all(f["type"] != "training_loop" for f in d["faults"])


def test_fused_optimizer_gradients_are_unscaled(tmp_path):
    """Adam(fused=True) unscales inside its own step (the scaler passes it the scale): the
    gradient norm at its step pre hook is divided by the scale, so both give the same norms."""
    if not getattr(torch.optim.Adam([torch.zeros(1, requires_grad=True)], fused=True), "_step_supports_amp_scaling",
                   False):
        pytest.skip("this torch has no fused Adam on CPU")
    norms = {}
    for fused in (False, True):
        rep, d, _ = _run(tmp_path, f"adam{fused}", _loop(f"torch.optim.Adam(model.parameters(), lr=1e-3, fused={fused})",
                                                         epochs=1), sample_every=1)
        tv = _trace(rep)
        s, g = tv.series("grad_norm_total", tv.nodes("grad_norm_total")[0])
        norms[fused] = dict(zip(s.tolist(), g.tolist()))
    common = sorted(set(norms[False]) & set(norms[True]))
    assert common and all(norms[False][k] < 100 for k in common)
    np.testing.assert_allclose([norms[True][k] for k in common], [norms[False][k] for k in common], rtol=1e-5)


def test_a_collapsing_scale_is_the_symptom_and_settles_the_run(tmp_path):
    rep, d, _ = _run(tmp_path, "collapse", COLLAPSE)
    hit = [s for s in d["symptoms"] if s["symptom"] == "amp_scale_collapse"]
    assert hit, d["symptoms"]
    assert hit[0]["step"] == 0 and hit[0]["node"].startswith("call:collapse.py:") and "scaler.step" in hit[0]["node"]
    assert d["verdict"] == "faulty"
    assert all(f["type"] != "training_loop" for f in d["faults"])
    assert "missing_update" not in _symptoms(d)
    assert any(e["symptom"] == "amp_scale_collapse" for f in d["faults"] for e in f["evidence"])
    # the early stop: 16 skipped steps in a row and the symptom cannot un-fire
    assert d["stop_reason"] == "settled" and d["settled"]["rule"] == "amp_scale_collapse"
    assert d["settled"]["since_step"] == 0 and d["steps"] == 16 and d["judged_prefix"]
    assert "the diagnosis was settled (GradScaler skipped every optimizer step since step 0" in rep.to_text()


def test_a_collapsing_scale_without_early_stop_runs_to_the_end(tmp_path):
    rep, d, _ = _run(tmp_path, "collapse_full", COLLAPSE, early_stop=False)
    tv = _trace(rep)
    assert d["stop_reason"] is None and d["steps"] == 40 and tv.meta["amp"]["skipped"] == 40
    hit = [s for s in d["symptoms"] if s["symptom"] == "amp_scale_collapse"]
    assert hit and hit[0]["value"] < 1.0  # the scale fell below 1 (65536 / 2**39)
    assert d["faults"][0]["type"] != "training_loop" and "missing_update" not in _symptoms(d)


def test_amp_loop_with_a_too_high_learning_rate(tmp_path):
    rep, d, _ = _run(tmp_path, "highlr", _loop("torch.optim.SGD(model.parameters(), lr=50.0)", epochs=4))
    assert d["verdict"] == "faulty"
    top = d["faults"][0]
    assert top["type"] == "learning_rate", d["faults"]
    src = (tmp_path / "highlr.py").read_text().splitlines()
    lines = {loc["line"] for loc in top["locations"]}
    opt_line = next(i for i, t in enumerate(src, start=1) if t.startswith("optimizer = torch.optim.SGD"))
    assert opt_line in lines and "lr=50.0" in src[opt_line - 1]


def test_runs_without_a_scaler_record_nothing_of_it_and_the_wrappers_go(tmp_path):
    from faultlens.instrumenter import runtime
    orig_step, orig_scale = torch.amp.GradScaler.step, torch.amp.GradScaler.scale
    src = _loop().replace("scaler.scale(loss).backward()", "loss.backward()").replace(
        "scaler.step(optimizer)", "optimizer.step()").replace("scaler.update()", "pass")
    rep, d, _ = _run(tmp_path, "plain", src)
    tv = _trace(rep)
    assert not tv.nodes("amp_skipped") and tv.meta.get("amp") is None
    assert not any("mixed precision" in n for n in d["notes"])
    assert runtime.state() is None
    assert torch.amp.GradScaler.step is orig_step and torch.amp.GradScaler.scale is orig_scale
