"""Long runs: a default time limit shown at the start, a status line on a terminal, and a run
cut by the limit judged as a prefix (never an ``epochs`` fault)."""
from __future__ import annotations

import io
import json
import textwrap

from faultlens.instrumenter.progress import Progress, read_progress

LONG = textwrap.dedent('''
    import torch
    import torch.nn as nn
    torch.manual_seed(0)
    x = torch.randn(256, 8)
    y = (x[:, 0] > 0).long()
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 2))
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    for epoch in range(100000):
        for i in range(0, 256, 32):
            optimizer.zero_grad()
            loss = criterion(model(x[i:i + 32]), y[i:i + 32])
            loss.backward()
            optimizer.step()
        if epoch % 50 == 0:
            print("epoch", epoch, loss.item())
''')


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_a_run_longer_than_the_default_limit_is_judged_as_a_prefix(tmp_path, monkeypatch, capsys):
    from faultlens.cli import main
    from faultlens.instrumenter import commands

    p = tmp_path / "long.py"
    p.write_text(LONG)
    monkeypatch.setattr(commands, "DEFAULT_MAX_SECONDS", 12.0)
    rc = main(["run", str(p), "--json", str(tmp_path / "r.json"), "--no-check", "--out", str(tmp_path / "run")])
    out, err = capsys.readouterr()
    assert "time limit 12 s" in err and "--max-seconds" in err
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["stop_reason"] in ("max_seconds", "max_seconds_hard")
    assert "stopped at the time limit" in out and "judges this prefix" in out
    assert all(f["type"] != "epochs" for f in rep["faults"])
    assert rc in (0, 1, 3)


def test_the_status_line_shows_steps_loss_and_symptoms(tmp_path, run_inproc):
    p = tmp_path / "short.py"
    p.write_text(LONG.replace("range(100000)", "range(20)"))
    res, _ = run_inproc(p)
    steps, loss = read_progress(res.trace_path)
    assert steps == 160 and loss is not None and loss > 0
    tty = _Tty()
    line = Progress(res.trace_path, limit=600, stream=tty).render()
    assert line.startswith("faultlens: step 160  loss ") and "of 600 s" in line
    bar = Progress(res.trace_path, stream=tty)
    bar._draw("faultlens: step 3")
    shown = []
    bar.write_through(shown.append, "program output\n")
    assert shown == ["program output\n"]
    # the status line is cleared before the program's line and drawn again after it
    assert tty.getvalue().endswith("\r\033[Kfaultlens: step 3\r\033[Kfaultlens: step 3")
    bar.stop()
    assert tty.getvalue().endswith("\r\033[K")


def test_no_status_line_without_a_terminal():
    assert not Progress.wanted(io.StringIO())
    assert Progress.wanted(_Tty())
