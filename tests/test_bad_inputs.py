"""The bad-input table of issue 12, kept as tests: each row through the real command line
(``python -m faultlens lint|run ...`` in a child process), its exit code, and one clear line
(never a traceback from faultlens).

    syntax error 2 · non-UTF-8 2 · empty 0 (skipped) · binary 2 · nonexistent path 2 · folder
    without Python 0 · .ipynb never executed as Python (its cells are the program where
    notebooks are supported, else exit 2 "not a Python file") · non-DL script `run` 3 ·
    raises at import -> crashed, kind environment · sys.exit(3) -> crashed, kind exit, 3 passed
    on · endless loop stopped by the limit, reported · argv passed through · 5 MB file bounded
    by the limit

Every program here is written by the test. Runs use a small ``--max-seconds`` and
``--no-check`` (no test run of a patch) so the file stays fast. The 5 MB file's lint speed is a
benchmark figure (``benchmarks/lint_speed.py --big-file``), not a test.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LIMIT = 12  # --max-seconds for the run rows


def faultlens(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, FAULTLENS_CACHE_DIR=str(cwd / ".cache"), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "faultlens", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=env)


def no_traceback(p: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in p.stderr, p.stderr
    assert "Traceback" not in p.stdout, p.stdout


def one_line_about(stderr: str, name: str) -> str:
    """The single stderr line that names the input (the lint summary line aside)."""
    lines = [l for l in stderr.splitlines() if name in l]
    assert len(lines) == 1, stderr
    return lines[0]


# ------------------------------------------------------------------ inputs rejected before any run
@dataclass
class Row:
    id: str
    name: str
    content: bytes | None          # None: nothing is created at ``name``; b"<dir>": a folder
    lint_rc: int
    lint_msg: str
    run_rc: int
    run_msg: str


ROWS = [
    Row("syntax_error", "bad.py", b"import torch\ndef f(:\n    pass\n",
        2, "syntax error at line 2", 2, "syntax error at line 2"),
    Row("non_utf8", "latin1.py", b"import torch\nname = '\xe9t\xe9'\n", 2, "not UTF-8", 2, "not UTF-8"),
    # lint skips an empty file (exit 0); `run` has nothing to run and says so (exit 2)
    Row("empty", "empty.py", b"", 0, "skipped: empty file", 2, "file is empty"),
    Row("binary", "binary.py", b"import torch\x00\x01\x02\xff", 2, "binary file", 2, "binary file"),
    Row("nonexistent", "missing.py", None, 2, "cannot read", 2, "no such file"),
    Row("folder_without_python", "notes", b"<dir>", 0, "no Python files found", 2, "not a file"),
]


def _make(tmp_path: Path, row: Row) -> None:
    if row.content == b"<dir>":
        (tmp_path / row.name).mkdir()
        (tmp_path / row.name / "README.txt").write_text("no code here\n")
    elif row.content is not None:
        (tmp_path / row.name).write_bytes(row.content)


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_lint_bad_input(tmp_path, row):
    _make(tmp_path, row)
    p = faultlens("lint", row.name, cwd=tmp_path)
    no_traceback(p)
    assert p.returncode == row.lint_rc, p.stderr
    if row.id == "folder_without_python":
        assert p.stderr.strip() == "faultlens: no Python files found"
    else:
        assert row.lint_msg in one_line_about(p.stderr, row.name)
    if row.lint_rc == 2:
        assert "No problems found" not in p.stderr   # nothing was checked


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_run_bad_input(tmp_path, row):
    _make(tmp_path, row)
    p = faultlens("run", row.name, "--max-seconds", str(LIMIT), "--out", "rundir", cwd=tmp_path)
    no_traceback(p)
    assert p.returncode == row.run_rc, p.stderr
    errors = [l for l in p.stderr.splitlines() if "error" in l]
    assert len(errors) == 1 and errors[0].startswith("faultlens: error: ") and row.run_msg in errors[0], p.stderr
    assert not (tmp_path / "rundir").exists()          # refused before anything ran


NOTEBOOK = {
    "cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
               "source": ["open('SIDE_EFFECT', 'w').write('the cell ran')\n", "import torch\n"]}],
    "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
}


@pytest.mark.parametrize("command", ["lint", "run", "instrument", "graph"])
def test_notebook_is_never_taken_as_python_text(tmp_path, command):
    """A notebook's JSON is valid Python syntax (a dict display): it must never be executed or
    judged as a Python file. A command either reads the notebook's code cells as the program
    (lint and graph do) or refuses the file with one line, exit 2, having run nothing."""
    nb = tmp_path / "train.ipynb"
    nb.write_text(json.dumps(NOTEBOOK, indent=1))
    compile(nb.read_text(), "train.ipynb", "eval")      # valid Python text, yet not a program
    extra = ["--max-seconds", str(LIMIT), "--out", "rundir", "--no-check"] if command == "run" else []
    p = faultlens(command, "train.ipynb", *extra, cwd=tmp_path)
    no_traceback(p)
    if p.returncode == 2:
        errors = [l for l in p.stderr.splitlines() if "train.ipynb" in l]
        assert len(errors) == 1 and ("not a Python file" in errors[0] or "notebook" in errors[0]), p.stderr
        assert not (tmp_path / "SIDE_EFFECT").exists() and not (tmp_path / "rundir").exists()
        return
    # read as a notebook: the program is the cells' code, never the JSON text
    assert "cannot parse" not in p.stderr
    if command == "run":
        assert (tmp_path / "SIDE_EFFECT").read_text() == "the cell ran"
        assert p.returncode == 3, p.stdout + p.stderr   # no training: inconclusive
    else:
        assert p.returncode == 0, p.stderr
        assert not (tmp_path / "SIDE_EFFECT").exists()   # static commands run nothing


# ------------------------------------------------------------------ programs that do run
def _run(tmp_path: Path, name: str, source: str, *args: str, limit: float = LIMIT, tail=()):
    (tmp_path / name).write_text(source)
    rj = tmp_path / "report.json"
    t0 = time.monotonic()
    p = faultlens("run", name, "--max-seconds", str(limit), "--no-check", "--json", str(rj),
                  "--out", str(tmp_path / "rundir"), *args, *(["--", *tail] if tail else []),
                  cwd=tmp_path, timeout=3 * limit + 60)
    p.wall = time.monotonic() - t0  # type: ignore[attr-defined]
    doc = json.loads(rj.read_text()) if rj.exists() else None
    return p, doc


def _faultlens_frames(text: str) -> list[str]:
    """Traceback lines that point into faultlens itself (the program's own frames aside)."""
    return [l for l in text.splitlines() if l.strip().startswith("File ") and "faultlens" in l
            and "/faultlens/" in l.replace(os.sep, "/")]


def test_non_dl_script_run_is_inconclusive(tmp_path):
    p, doc = _run(tmp_path, "plain.py", "import os\nprint('plain output', len(os.sep))\n")
    no_traceback(p)
    assert p.returncode == 3 and "plain output 1" in p.stdout
    assert doc["verdict"] == "inconclusive" and not doc["faults"]


def test_non_dl_script_lint_is_skipped(tmp_path):
    (tmp_path / "plain.py").write_text("import os\nprint(os.getcwd())\n")
    p = faultlens("lint", "plain.py", cwd=tmp_path)
    no_traceback(p)
    assert p.returncode == 0
    assert "imports no deep-learning framework" in one_line_about(p.stderr, "plain.py")


RAISES_AT_IMPORT = "import torch\nimport a_module_that_is_not_installed_xyz\nprint('never')\n"


def test_raises_at_import_is_an_environment_crash(tmp_path):
    p, doc = _run(tmp_path, "imp.py", RAISES_AT_IMPORT)
    assert p.returncode == 1, p.stdout + p.stderr
    assert doc["verdict"] == "crashed" and not doc["faults"]
    assert doc["crash"]["category"] == "environment" and doc["crash"]["type"] == "ModuleNotFoundError"
    assert "crash kind: environment" in p.stdout
    # the program's own traceback, as `python imp.py` prints it, and no faultlens frame in it
    assert "ModuleNotFoundError: No module named 'a_module_that_is_not_installed_xyz'" in p.stdout
    assert 'File "' in p.stdout and not _faultlens_frames(p.stdout + p.stderr), p.stdout
    assert "Traceback" not in p.stderr


def test_raises_at_import_lints_clean(tmp_path):
    (tmp_path / "imp.py").write_text(RAISES_AT_IMPORT)
    p = faultlens("lint", "imp.py", cwd=tmp_path)
    no_traceback(p)
    assert p.returncode == 0 and "No problems found" in p.stderr


def test_sys_exit_3_is_passed_on(tmp_path):
    src = "import sys\nimport torch\nprint('leaving')\nsys.exit(3)\n"
    p, doc = _run(tmp_path, "ex.py", src)
    no_traceback(p)
    assert p.returncode == 3 and "leaving" in p.stdout
    assert doc["verdict"] == "crashed" and doc["crash"]["category"] == "exit" and not doc["faults"]
    assert "crash kind: exit" in p.stdout


def test_sys_exit_message_is_printed_like_python(tmp_path):
    src = "import sys\nimport torch\nsys.exit('cannot continue: no data')\n"
    p, doc = _run(tmp_path, "exm.py", src)
    no_traceback(p)
    assert p.returncode == 1 and "cannot continue: no data" in p.stdout
    assert doc["crash"]["category"] == "exit"


ENDLESS = """\
import torch
x = torch.zeros(1)
n = 0
while True:
    x += 1
    n += 1
"""


def test_endless_loop_is_stopped_by_the_limit_and_reported(tmp_path):
    limit = 8
    p, doc = _run(tmp_path, "loop.py", ENDLESS, limit=limit)
    no_traceback(p)
    assert doc is not None, p.stdout + p.stderr
    assert doc["status"] == "cut_short" and doc["stop_reason"].startswith("max_seconds")
    assert "stopped at the time limit (--max-seconds)" in p.stdout
    assert p.returncode == 3


ARGV = """\
import sys
import argparse
import torch
ap = argparse.ArgumentParser()
ap.add_argument("--epochs", type=int, default=10)
ap.add_argument("--name")
a = ap.parse_args()
print("ARGV", sys.argv[1:], a.epochs, a.name)
"""


def test_argv_is_passed_through(tmp_path):
    tail = ["--epochs", "1", "--name", "two words"]
    p, doc = _run(tmp_path, "args.py", ARGV, tail=tail)
    no_traceback(p)
    assert "ARGV ['--epochs', '1', '--name', 'two words'] 1 two words" in p.stdout, p.stdout
    assert p.returncode in (0, 3)


def _big_file(path: Path) -> int:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import gen_repo
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    return gen_repo.big_file(str(path), 5.0, seed=0)


def test_5mb_file_run_is_bounded_by_the_limit(tmp_path):
    """--max-seconds covers the whole command, the static analysis of a huge file included;
    the report says that the limit stopped it."""
    lines = _big_file(tmp_path / "big.py")
    assert (tmp_path / "big.py").stat().st_size > 4_900_000 and lines > 100_000
    p, doc = _run(tmp_path, "big.py", (tmp_path / "big.py").read_text())
    no_traceback(p)
    assert doc is not None, p.stderr
    assert doc["stop_reason"].startswith("max_seconds"), doc
    assert "stopped at the time limit (--max-seconds)" in p.stdout, p.stdout
    assert any("time limit" in n for n in doc["notes"]), doc["notes"]
