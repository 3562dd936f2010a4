"""Report contract (JSON keys), SARIF structure, HTML parsing/rendering, text, finish_run exit
codes and outputs — on synthetic traces (no training)."""
from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from diagnosis.tracebuild import LOSS, healthy
from faultlens.report import SCHEMA
from faultlens.report.pipeline import diagnose_result, finish_run

FIX = Path(__file__).parents[1] / "localizer" / "fixtures"
FAULT_KEYS = {"type", "confidence", "summary", "locations", "evidence", "patch"}
LOC_KEYS = {"path", "line", "column", "end_line", "end_column", "node", "role"}


def _result(tmp_path, tb, name="mlp_loop.py", status="finished", crash=None):
    prog = tmp_path / name
    shutil.copy(FIX / name, prog)
    trace = tb.write(tmp_path / "trace.sqlite")
    return SimpleNamespace(program=str(prog), trace_path=str(trace), graph=None, status=status, crash=crash,
                           steps=int(tb.meta.get("steps", 120)), seconds=1.5, run_dir=str(tmp_path), argv=[],
                           source_path=None)


def diverging(n=120):
    tb = healthy(n)
    tb.scalars.pop(("loss", LOSS))
    tb.scalars.pop(("accuracy", LOSS))
    t = np.arange(n)
    tb.series("loss", LOSS, 0.7 * np.exp(t / 25))
    return tb


@pytest.fixture
def faulty_report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rep, _ = diagnose_result(_result(tmp_path, diverging()), "mlp_loop.py")
    return rep


def test_json_contract(faulty_report):
    d = json.loads(faulty_report.to_json())
    assert d["schema"] == SCHEMA
    assert {"schema", "program", "verdict", "faults", "symptoms", "lint", "steps", "seconds", "trace"} <= set(d)
    assert d["verdict"] == "faulty" and d["program"] == "mlp_loop.py"
    top = d["faults"][0]
    assert set(top) == FAULT_KEYS and top["type"] == "learning_rate"
    assert top["locations"] and all(set(l) == LOC_KEYS for l in top["locations"])
    assert top["locations"][0]["line"] == 11 and top["locations"][0]["role"] == "definition"
    assert all(set(e) == {"symptom", "step", "node", "value"} for e in top["evidence"])
    assert set(top["patch"]) >= {"description", "diff", "verified"} and top["patch"]["verified"] is None
    assert "--- ./mlp_loop.py" in top["patch"]["diff"]
    confs = [f["confidence"] for f in d["faults"]]
    assert confs == sorted(confs, reverse=True) and 0 < confs[0] <= 1


def test_sarif_structure(faulty_report):
    s = faulty_report.to_sarif()
    assert s["version"] == "2.1.0" and "sarif-2.1.0" in s["$schema"]
    run = s["runs"][0]
    rules = {r["id"] for r in run["tool"]["driver"]["rules"]}
    assert run["results"] and all(r["ruleId"] in rules for r in run["results"])
    r0 = run["results"][0]
    assert r0["ruleId"] == "faultlens/learning_rate" and r0["level"] == "error"
    reg = r0["locations"][0]["physicalLocation"]["region"]
    assert reg["startLine"] == 11 and reg["startColumn"] >= 1
    assert r0["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "mlp_loop.py"
    json.dumps(s)


class _Checker(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.tags, self.external = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        a = dict(attrs)
        for k in ("src", "href"):
            if a.get(k) and not a[k].startswith("#"):
                self.external.append(a[k])


def test_html_self_contained(faulty_report, tmp_path):
    h = faulty_report.to_html()
    p = _Checker()
    p.feed(h)
    p.close()
    assert p.tags.count("svg") >= 5 and "script" not in p.tags and not p.external
    assert "# faultlens:" in h and "lambda_max" in h


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="chromium not installed")
def test_html_renders_in_chromium(faulty_report, tmp_path):
    f = tmp_path / "r.html"
    f.write_text(faulty_report.to_html())
    png = tmp_path / "shot.png"
    r = subprocess.run(["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        f"--screenshot={png}", "--window-size=1200,1600", f.as_uri()],
                       capture_output=True, text=True, timeout=120)
    assert png.exists() and png.stat().st_size > 10_000, r.stderr[-2000:]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_text_report(faulty_report):
    t = faulty_report.to_text()
    assert "FAULTY" in t and "learning_rate" in t and "> 11 |" in t and "why:" in t


def _args(tmp_path, **kw):
    base = dict(file="mlp_loop.py", json=str(tmp_path / "out" / "r.json"), sarif=str(tmp_path / "r.sarif"),
                html=str(tmp_path / "r.html"), verify=False, fix=False, diff=False, quiet=True)
    base.update(kw)
    return SimpleNamespace(**base)


def test_finish_run_exit_codes_and_files(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert finish_run(_result(tmp_path, diverging()), _args(tmp_path, diff=True)) == 1
    out = capsys.readouterr().out
    assert out.startswith("faultlens: learning_rate") and "+++ ./mlp_loop.py" in out
    assert json.loads((tmp_path / "out" / "r.json").read_text())["verdict"] == "faulty"
    assert json.loads((tmp_path / "r.sarif").read_text())["version"] == "2.1.0"
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    assert finish_run(_result(tmp_path, healthy()), _args(tmp_path)) == 0
    assert json.loads((tmp_path / "out" / "r.json").read_text())["faults"] == []
    short = healthy(6)
    short.meta["steps"] = 6
    assert finish_run(_result(tmp_path, short), _args(tmp_path)) == 3
    crash = {"kind": "shape_mismatch", "type": "RuntimeError", "message": "mat1 and mat2 shapes cannot be multiplied",
             "path": "mlp_loop.py", "line": 40, "column": 9, "end_line": 40, "end_column": 24, "step": 0}
    tb = healthy(3)
    tb.meta.update(status="crashed", crash=crash)
    assert finish_run(_result(tmp_path, tb, status="crashed", crash=crash), _args(tmp_path)) == 1
    d = json.loads((tmp_path / "out" / "r.json").read_text())
    assert d["verdict"] == "crashed" and d["faults"][0]["type"] == "architecture"
    assert d["faults"][0]["locations"][0] == {"path": "mlp_loop.py", "line": 40, "column": 9, "end_line": 40,
                                              "end_column": 24, "node": None, "role": "crash"}


def test_fix_writes_the_patch(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = _result(tmp_path, diverging())
    assert finish_run(res, _args(tmp_path, fix=True)) == 1
    text = (tmp_path / "mlp_loop.py").read_text()
    assert 'default=0.1' in text and "# faultlens:" in text


def test_interrupt_before_the_trace_store_wrote_its_tables(tmp_path, monkeypatch, capsys):
    """Ctrl-C while the child is still importing torch leaves an empty trace database: the
    report comes from what the runner saw (no traceback; `faultlens run` then exits 130)."""
    import sqlite3

    monkeypatch.chdir(tmp_path)
    shutil.copy(FIX / "mlp_loop.py", tmp_path / "mlp_loop.py")
    empty = tmp_path / "trace.sqlite"
    sqlite3.connect(empty).close()  # the file exists, no tables yet
    res = SimpleNamespace(program=str(tmp_path / "mlp_loop.py"), trace_path=str(empty), graph=None,
                          status="interrupted", crash=None, steps=0, seconds=0.4, run_dir=str(tmp_path), argv=[],
                          source_path=None)
    assert finish_run(res, _args(tmp_path)) == 3  # inconclusive: nothing was trained
    assert json.loads((tmp_path / "out" / "r.json").read_text())["verdict"] == "inconclusive"
