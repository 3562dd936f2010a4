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


# --------------------------------------------------------------- the whole report (issue 12, item 9)
DIVERGING = '''\
"""A regression whose SGD learning rate is far too high: the loss blows up (no seed of its own)."""
import torch
import torch.nn as nn

X = torch.randn(512, 8)
y = X @ torch.randn(8, 1) + 0.1 * torch.randn(512, 1)
model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=2.0)
criterion = nn.MSELoss()
loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=32, shuffle=True)
for epoch in range(4):
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = criterion(model(xb), yb)
        loss.backward()
        optimizer.step()
    print(epoch, loss.item())
'''


def _report(tmp_path, name, *extra):
    import json
    import subprocess
    import sys

    out = tmp_path / f"{name}.json"
    p = subprocess.run([sys.executable, "-m", "faultlens", "run", "prog.py", "--quiet", "--no-check",
                        "--max-steps", "48", "--json", str(out), "--out", str(tmp_path / name), *extra],
                       cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert "Traceback" not in p.stderr, p.stderr
    return json.loads(out.read_text())


def _essentials(doc):
    return {"verdict": doc["verdict"], "steps": doc["steps"],
            "faults": [(f["type"], [l.get("line") for l in f.get("locations") or []],
                        (f.get("patch") or {}).get("diff"), (f.get("patch") or {}).get("description"))
                       for f in doc["faults"]],
            "symptoms": sorted(s.get("name") or s.get("symptom") or "" for s in doc["symptoms"])}


def test_seeded_runs_give_the_same_report(tmp_path):
    """--seed: the same program gives the same verdict, fault list and patch text; the report
    names the sampled figures but needs no warning about them."""
    (tmp_path / "prog.py").write_text(DIVERGING)
    a = _report(tmp_path, "a", "--seed", "7")
    b = _report(tmp_path, "b", "--seed", "7")
    assert a["verdict"] == "faulty" and a["faults"] and a["faults"][0]["patch"], a
    assert _essentials(a) == _essentials(b)
    assert a["sampled"]["seeded"] is True and not any("sampled steps" in n for n in a["notes"])


def test_unseeded_report_names_the_sampled_figures(tmp_path):
    (tmp_path / "prog.py").write_text(DIVERGING)
    doc = _report(tmp_path, "u")
    s = doc["sampled"]
    assert s["seeded"] is False and "gradient statistics" in s["families"] and "grad_norm" in s["metrics"]
    assert "loss" not in s["metrics"] and "lr" not in s["metrics"]   # recorded at every step
    note = next(n for n in doc["notes"] if n.startswith("figures from sampled steps"))
    assert "without --seed" in note and "gradient statistics" in note
