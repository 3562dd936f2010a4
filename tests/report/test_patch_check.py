"""By default ``faultlens run`` test-runs the top patch: a short run of a patched copy must start
training, or the patch is withdrawn with a note (issue "Do no harm": a patch passed
``git apply --check`` and crashed at run time)."""
from __future__ import annotations

import textwrap

from faultlens.instrumenter.runner import run_program
from faultlens.report.pipeline import check_patch, diagnose_result

PROG = textwrap.dedent('''
    import torch
    import torch.nn as nn

    torch.manual_seed(0)
    x = torch.randn(256, 8)
    y = (x.sum(1) > 0).long()
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=40.0)
    for epoch in range(20):
        for i in range(0, 256, 32):
            optimizer.zero_grad()
            loss = criterion(model(x[i:i + 32]), y[i:i + 32])
            loss.backward()
            optimizer.step()
''')


def _report(tmp_path):
    p = tmp_path / "train.py"
    p.write_text(PROG)
    res = run_program(str(p), [], max_seconds=60, out_dir=str(tmp_path / "run"), stream=False)
    report, graph = diagnose_result(res, str(p))
    assert report.top is not None and report.top.patch is not None, report.to_text()
    return report, res, graph


def test_a_patch_whose_copy_trains_is_marked_checked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    report, res, graph = _report(tmp_path)
    assert report.top.type == "learning_rate"
    assert check_patch(report, res, graph) is True
    assert report.top.patch.checked is True and report.top.patch.verified is None
    assert report.top.patch.to_dict()["checked"] is True
    assert "checked: a patched copy starts training" in report.to_text()


def test_a_patch_that_breaks_the_program_is_withdrawn(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    report, res, graph = _report(tmp_path)
    desc = report.top.patch.description
    # as if the edit were valid text but wrong in context (an attribute the value lacks)
    report.top.patch.new_source = report.top.patch.new_source.replace(
        "criterion = nn.CrossEntropyLoss()", "criterion = nn.CrossEntropyLoss()\nx = x.no_such_method()")
    assert check_patch(report, res, graph) is False
    assert report.top.patch is None
    assert any("withdrawn" in n and desc in n and "AttributeError" in n for n in report.notes)
    assert "patch:" not in report.to_text()


def test_an_interrupted_run_starts_no_further_run(tmp_path, monkeypatch, capsys):
    """Ctrl-C asks faultlens to stop: neither the patch check nor --verify runs the program again."""
    import argparse

    from faultlens.report import pipeline

    monkeypatch.chdir(tmp_path)
    report, res, graph = _report(tmp_path)
    res.status = "interrupted"

    def no_run(*a, **k):
        raise AssertionError("the program was run again after an interrupt")

    monkeypatch.setattr(pipeline, "check_patch", no_run)
    monkeypatch.setattr(pipeline, "verify_patch", no_run)
    for verify in (False, True):
        args = argparse.Namespace(file=str(tmp_path / "train.py"), verify=verify, check=True, quiet=True,
                                  diff=False, fix=False, json=None, sarif=None, html=None)
        pipeline.finish_run(res, args)


def test_the_check_waits_longer_for_a_program_slow_to_start(tmp_path, monkeypatch, capsys):
    """A program that needed 40 s of imports before its first step (a framework, a loaded
    machine) gets 2 x 40 + 10 s for its patched copy's check, not the 30 s default."""
    import argparse
    import sqlite3

    from faultlens.report import pipeline

    monkeypatch.chdir(tmp_path)
    report, res, graph = _report(tmp_path)
    con = sqlite3.connect(res.trace_path)
    con.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                    [("seconds", "52.0"), ("training_seconds", "12.0")])
    con.commit()
    con.close()
    assert pipeline._startup_seconds(res) == 40.0
    seen = {}

    def fake_check(report, result, graph, *, max_seconds):
        seen["limit"] = max_seconds
        return None

    monkeypatch.setattr(pipeline, "check_patch", fake_check)
    args = argparse.Namespace(file=str(tmp_path / "train.py"), verify=False, check=True, quiet=True,
                              diff=False, fix=False, json=None, sarif=None, html=None)
    pipeline.finish_run(res, args)
    assert seen["limit"] == 90.0
