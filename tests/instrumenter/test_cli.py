"""`faultlens instrument` and `faultlens run` (child process, run directory, Ctrl-C)."""
from __future__ import annotations

import ast
import difflib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from faultlens.cli import main as cli_main
from faultlens.instrumenter import instrument
from faultlens.instrumenter.trace import load_trace

from .conftest import has_graph


@pytest.mark.parametrize("name", ["mlp_seeded.py", "pkg/train.py", "gan.py", "lbfgs.py", "no_optimizer.py",
                                  "loader_workers.py"])
def test_instrument_output_is_valid_python_with_same_lines(programs, name):
    src = (programs / name).read_text()
    out = instrument(str(programs / name))
    ast.parse(out)
    assert out.count("\n") == src.count("\n")          # line numbers are unchanged
    assert "import faultlens.instrumenter.runtime as __faultlens__" in out
    changed = [l for l in difflib.unified_diff(src.splitlines(), out.splitlines(), lineterm="", n=0)
               if l.startswith("+") and not l.startswith("+++")]
    assert 1 <= len(changed) <= 8
    for line in changed:                               # every change is a probe call or the import
        assert "__faultlens__." in line or "__faultlens__" in line


def test_instrument_cli_writes_file_and_watches_objects(programs, tmp_path, capsys):
    out = tmp_path / "out.py"
    assert cli_main(["instrument", str(programs / "mlp_seeded.py"), "-o", str(out)]) == 0
    text = out.read_text()
    for call in ("watch_model(model, node=", "watch_optimizer(optimizer, node=", "watch_loss(criterion, node="):
        assert call in text
    if has_graph():
        assert "watch_loader(loader, node=" in text
        assert "__faultlens__.call_loss(F.cross_entropy, model(X), y, node=" in text
        assert "__faultlens__.epochs(range(3), node=" in text


def test_instrument_bad_input(tmp_path, capsys):
    assert cli_main(["instrument", str(tmp_path / "missing.py")]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.py"
    bad.write_text("def f(:\n")
    assert cli_main(["instrument", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("faultlens: error:") and "Traceback" not in err


def _faultlens(*args, cwd, timeout=120):
    return subprocess.run([sys.executable, "-m", "faultlens", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def test_run_cli_like_python(programs, tmp_path):
    """argv, sys.path[0], cwd and __name__ are what `python FILE ARGS` gives; the run
    directory holds graph, trace, rewritten source and report."""
    pkg = programs / "pkg"
    out = tmp_path / "run"
    rj = tmp_path / "report.json"
    p = _faultlens("run", "train.py", "--out", str(out), "--json", str(rj), "--max-steps", "9",
                   "--", "--epochs", "5", "--lr", "0.01", cwd=pkg)
    assert p.returncode != 2 and "Traceback" not in p.stderr, p.stderr   # exit code: the report's verdict
    assert "0 " in p.stdout                         # the program's own output is streamed
    assert (out / "trace.sqlite").exists() and (out / "train.instrumented.py").exists()
    assert (out / "graph.json").exists() == has_graph()
    t = load_trace(out / "trace.sqlite")
    assert t.status == "cut_short" and t.steps == 9 and t.meta["argv"] == ["--epochs", "5", "--lr", "0.01"]
    assert abs(t.last("lr") - 0.01) < 1e-12         # the argument reached the program
    doc = json.loads(rj.read_text())
    assert doc["schema"] == "faultlens.report/1"


def test_run_cli_default_run_dir_and_crash(programs):
    p = _faultlens("run", "crash_shape.py", "-q", cwd=programs)
    assert p.returncode not in (0, 2) and "Traceback (most recent call last)" not in p.stderr
    runs = list((programs / ".faultlens" / "runs").iterdir())
    assert len(runs) == 1
    t = load_trace(runs[0])
    assert t.status == "crashed" and t.crash["line"] == 15 and "mat1 and mat2" in t.crash["message"]


def test_run_cli_bad_usage(programs, tmp_path):
    p = _faultlens("run", str(tmp_path / "nope.py"), cwd=programs)
    assert p.returncode == 2 and p.stderr.startswith("faultlens: error:")
    p = _faultlens("run", "gan.py", "--max-steps", "0", cwd=programs)
    assert p.returncode == 2 and "Traceback" not in p.stderr


@pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="POSIX signals")
def test_ctrl_c_stops_child_and_keeps_trace(programs, tmp_path):
    out = tmp_path / "run"
    proc = _start_slow_run(programs, out)
    deadline = time.time() + 60
    while time.time() < deadline:      # wait until training has started
        time.sleep(0.3)
        if (out / "trace.sqlite").exists():
            try:
                if load_trace(out / "trace.sqlite").steps > 5:
                    break
            except Exception:
                pass
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        _kill_group(proc)
    t = load_trace(out / "trace.sqlite")
    assert t.status == "interrupted", err
    assert len(t.values("loss")) > 5
    assert proc.returncode != 0


def _terminal_signals():
    """In the child before exec: SIGINT as a terminal's foreground job has it. A test session
    started as a background job of a non-interactive shell (`make test &`) has SIGINT ignored,
    and an ignored signal stays ignored across exec, so the Ctrl-C the tests send would never
    arrive (Python installs its KeyboardInterrupt handler only when SIGINT is not ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_slow_run(programs, out, capture=True):
    """`faultlens run slow_loop.py` (it trains until stopped) in its own process group."""
    pipe = subprocess.PIPE if capture else subprocess.DEVNULL
    return subprocess.Popen([sys.executable, "-m", "faultlens", "run", "slow_loop.py", "-q", "--out", str(out)],
                            cwd=programs, stdout=pipe, stderr=pipe, text=True, start_new_session=True,
                            preexec_fn=_terminal_signals)


def _kill_group(proc):
    """Never leave a test's training process behind (slow_loop.py runs forever)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _children_running(run_json: str) -> list[int]:
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as fh:
                    cmd = fh.read().decode("utf-8", "replace")
            except OSError:
                continue
            if "faultlens.instrumenter._child" in cmd and run_json in cmd:
                pids.append(int(d))
    return pids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_a_killed_run_leaves_no_training_behind(programs, tmp_path):
    out = tmp_path / "run"
    proc = _start_slow_run(programs, out, capture=False)
    run_json = str(out / "run.json")
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not _children_running(run_json):
            time.sleep(0.2)
        assert _children_running(run_json), "the training child never started"
        proc.kill()  # SIGKILL to the parent alone: it cannot stop its child itself
        proc.wait(timeout=30)
        deadline = time.time() + 30
        while time.time() < deadline and _children_running(run_json):
            time.sleep(0.2)
        assert not _children_running(run_json), "the training child outlived a killed `faultlens run`"
    finally:
        _kill_group(proc)


@pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="POSIX signals")
def test_ctrl_c_while_the_child_starts_is_a_clean_interrupt(programs, tmp_path):
    out = tmp_path / "run"
    proc = _start_slow_run(programs, out)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (out / "run.json").exists():
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)  # the child is importing torch: no trace tables yet
        _, err = proc.communicate(timeout=90)
    finally:
        _kill_group(proc)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err


def test_analyzer_failure_falls_back_to_syntactic_watches(programs, monkeypatch):
    import faultlens.analyzer as analyzer

    def broken(*a, **k):
        raise RuntimeError("analyzer bug")

    monkeypatch.setattr(analyzer, "build_graph", broken, raising=False)
    out = instrument(str(programs / "gan.py"))
    ast.parse(out)
    assert 'watch_optimizer(opt_g, node="optimizer:gan.py:8:opt_g")' in out
    assert 'watch_model(G, node="model:gan.py:8:G")' in out
    assert 'watch_loss(bce, node="loss:gan.py:10:bce")' in out
