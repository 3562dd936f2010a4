"""Stopping early: the settled early stop (the diagnosis cannot change any more), its
``--no-early-stop`` switch, and a run longer than its ``--max-seconds`` judged as a prefix."""
from __future__ import annotations

import json
import re
import textwrap

from faultlens.api import run

#: SGD with lr 1e4 on a unit-scale regression: the loss is non-finite within a few steps
NAN = textwrap.dedent('''
    import torch
    import torch.nn as nn
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=1e4)
    criterion = nn.MSELoss()
    x, y = torch.randn(64, 10), torch.randn(64, 1)
    for step in range(STEPS):
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
''')

#: a healthy classifier whose loss stays finite
CLEAN = textwrap.dedent('''
    import torch
    import torch.nn as nn
    torch.manual_seed(0)
    x = torch.randn(256, 8)
    y = (x[:, 0] > 0).long()
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 2))
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(EPOCHS):
        for i in range(0, 256, 32):
            optimizer.zero_grad()
            loss = criterion(model(x[i:i + 32]), y[i:i + 32])
            loss.backward()
            optimizer.step()
''')

#: a regression with a small learning rate whose epoch loop would run for hours: its loss is
#: still falling when the time limit stops it
LONG = textwrap.dedent('''
    import torch
    import torch.nn as nn
    torch.manual_seed(0)
    x = torch.randn(2048, 32)
    y = x @ torch.randn(32, 1) + 0.1 * torch.randn(2048, 1)
    model = nn.Sequential(nn.Linear(32, 64), nn.Tanh(), nn.Linear(64, 1))
    criterion = nn.MSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0005)
    for epoch in range(100000):
        for i in range(0, 2048, 64):
            optimizer.zero_grad()
            loss = criterion(model(x[i:i + 64]), y[i:i + 64])
            loss.backward()
            optimizer.step()
''')


def _run(tmp_path, name, src, **kw):
    p = tmp_path / f"{name}.py"
    p.write_text(src)
    rep = run(str(p), in_process=True, out_dir=str(tmp_path / f"run_{name}"), max_seconds=60, seed=0, **kw)
    return rep, rep.to_dict()


def test_a_non_finite_loss_settles_the_run(tmp_path):
    rep, d = _run(tmp_path, "nan", NAN.replace("STEPS", "500"))
    assert d["status"] == "cut_short" and d["stop_reason"] == "settled"
    st = d["settled"]
    assert st["rule"] == "nonfinite_loss" and st["step"] - st["since_step"] == 2  # 3 iterations in a row
    assert d["steps"] == st["step"] + 1 < 500 and d["judged_prefix"] is True
    text = rep.to_text()
    assert (f"stopped at step {st['step']}: the diagnosis was settled (non-finite loss since step "
            f"{st['since_step']})") in text
    assert "the diagnosis judges this prefix of the run" in text
    # the first non-finite training loss is where the streak starts
    from faultlens.models.symptoms import TraceView
    s, v = TraceView.of(rep.trace).loss()
    bad = [int(x) for x, y in zip(s, v) if y != y or abs(y) == float("inf")]
    assert bad and bad[0] == st["since_step"]
    assert d["verdict"] == "faulty" and d["faults"][0]["type"] == "learning_rate"
    assert all(f["type"] != "epochs" for f in d["faults"])


def test_no_early_stop_runs_to_the_end(tmp_path):
    rep, d = _run(tmp_path, "nan_full", NAN.replace("STEPS", "40"), early_stop=False)
    assert d["status"] == "finished" and d["stop_reason"] is None and d["settled"] is None
    assert d["steps"] == 40 and d["judged_prefix"] is False
    assert "settled" not in rep.to_text()
    assert d["verdict"] == "faulty"


def test_a_healthy_run_is_never_stopped_early(tmp_path):
    rep, d = _run(tmp_path, "clean", CLEAN.replace("EPOCHS", "15"))
    assert d["status"] == "finished" and d["stop_reason"] is None and d["steps"] == 120
    assert d["verdict"] == "healthy" and not d["judged_prefix"]


def test_a_run_longer_than_its_max_seconds_is_judged_as_a_prefix(tmp_path, capsys):
    from faultlens.cli import main

    p = tmp_path / "long.py"
    p.write_text(LONG)
    rc = main(["run", str(p), "--max-seconds", "15", "--json", str(tmp_path / "r.json"), "--no-check",
               "--out", str(tmp_path / "run")])
    out, err = capsys.readouterr()
    assert "time limit 15 s" in err
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["status"] == "cut_short" and rep["stop_reason"] in ("max_seconds", "max_seconds_hard")
    assert rep["judged_prefix"] is True and rep["settled"] is None
    assert re.search(r"run: stopped at the time limit \(--max-seconds\)[^\n]*the diagnosis judges this prefix", out)
    assert all(f["type"] != "epochs" for f in rep["faults"])
    assert not {"still_improving", "too_few_steps"} & {s["symptom"] for s in rep["symptoms"]}
    assert rc in (0, 1, 3)


def test_run_help_documents_no_early_stop(capsys):
    import pytest
    from faultlens.cli import main

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    flat = " ".join(out.split())
    assert "--no-early-stop" in flat and "settled" in flat and "GradScaler" in flat
