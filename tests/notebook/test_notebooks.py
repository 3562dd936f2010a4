"""Notebooks (``.ipynb``): lint, run, --diff/--fix, SARIF and bad notebooks (docs/notebooks.md).

Every notebook here is built by the test with nbformat; the tests skip when nbformat (the
``faultlens[notebook]`` extra) is not installed.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="notebook support needs nbformat: pip install 'faultlens[notebook]'")

from faultlens.notebook import read_notebook, replace_sources  # noqa: E402

REPO = Path(__file__).resolve().parents[2]

SETUP = "import torch\nimport torch.nn as nn\ntorch.manual_seed(0)\nX = torch.randn(512, 10)\ny = (X[:, 0] > 0).long()"
MODEL = ("model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 2))\n"
         "opt = torch.optim.SGD(model.parameters(), lr={lr})\nloss_fn = nn.CrossEntropyLoss()")
LOOP = ("for epoch in range(15):\n    for i in range(0, 512, 32):\n        xb, yb = X[i:i+32], y[i:i+32]\n"
        "        opt.zero_grad()\n        loss = loss_fn({logits}, yb)\n        loss.backward()\n"
        "        opt.step()\n    print(epoch, loss.item())")


def write_nb(path: Path, lr: str = "0.1", logits: str = "model(xb)", magics: bool = True) -> Path:
    """markdown, magics+setup (with an output), markdown, model, loop: the model is cell 4."""
    v4 = nbformat.v4
    nb = v4.new_notebook()
    first = ("%matplotlib inline\n!echo hello\n" if magics else "") + SETUP
    nb.cells = [v4.new_markdown_cell("# Training"), v4.new_code_cell(first), v4.new_markdown_cell("The model"),
                v4.new_code_cell(MODEL.format(lr=lr)), v4.new_code_cell(LOOP.format(logits=logits))]
    nb.cells[1].execution_count = 1
    nb.cells[1].outputs = [v4.new_output("stream", name="stdout", text="hello\n")]
    nb.cells[3].metadata["tags"] = ["model"]
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nbformat.write(nb, str(path))
    return path


def faultlens(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), FAULTLENS_CACHE_DIR=str(cwd / ".cache"))
    return subprocess.run([sys.executable, "-m", "faultlens", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def no_traceback(p: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in p.stderr, p.stderr


# ------------------------------------------------------------------ conversion
def test_program_keeps_lines_and_skips_magics_with_a_note(tmp_path):
    nb = read_notebook(str(write_nb(tmp_path / "nb.ipynb")))
    lines = nb.program.splitlines()
    # cell 2 has 2 magic lines + 5 Python lines, cell 4 three lines, cell 5 eight lines
    assert len(lines) == 7 + 3 + 8 == len(nb.line_map)
    assert lines[:2] == ["pass", "pass"] and lines[2] == "import torch"
    assert nb.where(3) == (2, 3) and nb.where(9) == (4, 2) and nb.where(11) == (5, 1)
    kinds = [(s.cell, s.line, s.kind) for s in nb.skipped]
    assert kinds == [(2, 1, "line magic"), (2, 2, "shell command")]
    assert "cell 2:line 1: line magic %matplotlib inline" in nb.notes()[0]
    assert "cell 2:line 2: shell command !echo hello" in nb.notes()[0]


def test_cell_magic_skips_the_cell_and_strings_are_not_magics(tmp_path):
    v4 = nbformat.v4
    nb = v4.new_notebook()
    nb.cells = [v4.new_code_cell("%%bash\nls -l\necho hi"), v4.new_code_cell("s = '''\n%d items\n'''\nx = !ls\nlen?")]
    p = tmp_path / "m.ipynb"
    nbformat.write(nb, str(p))
    n = read_notebook(str(p))
    assert n.program.splitlines() == ["", "", "", "s = '''", "%d items", "'''", "pass", "pass"]
    assert [(s.cell, s.line, s.kind) for s in n.skipped] == [
        (1, 1, "cell magic (whole cell)"), (2, 4, "shell command"), (2, 5, "help query")]
    compile(n.program, "m", "exec")


# ------------------------------------------------------------------ lint
def test_lint_maps_findings_to_cell_and_line(tmp_path):
    write_nb(tmp_path / "nb.ipynb", lr="10.0", logits="torch.softmax(model(xb), dim=1)")
    p = faultlens("lint", "nb.ipynb", cwd=tmp_path)
    no_traceback(p)
    assert p.returncode == 1, p.stderr
    assert "nb.ipynb:cell 4:line 2:" in p.stdout and "FL012" in p.stdout
    assert "nb.ipynb:cell 5:line 5:" in p.stdout and "FL001" in p.stdout
    pj = faultlens("lint", "nb.ipynb", "--format", "json", cwd=tmp_path)
    f = next(x for x in json.loads(pj.stdout)["findings"] if x["code"] == "FL012")
    assert (f["path"], f["line"], f["cell"], f["cell_line"]) == ("nb.ipynb", 9, 4, 2)
    assert list(f)[:7] == ["code", "name", "severity", "message", "path", "line", "cell"]


def test_lint_sarif_region_and_cell_properties(tmp_path):
    write_nb(tmp_path / "nb.ipynb", lr="10.0")
    p = faultlens("lint", "nb.ipynb", "--format", "sarif", cwd=tmp_path)
    res = json.loads(p.stdout)["runs"][0]["results"]
    r = next(x for x in res if x["ruleId"] == "FL012")
    loc = r["locations"][0]
    assert loc["physicalLocation"]["artifactLocation"]["uri"] == "nb.ipynb"
    assert loc["physicalLocation"]["region"]["startLine"] == 9      # the program's line
    assert loc["properties"] == {"cell": 4, "cell_line": 2}
    assert "fixes" not in r   # program-line replacements do not apply to the notebook's JSON


def test_lint_diff_shows_the_cells_source(tmp_path):
    write_nb(tmp_path / "nb.ipynb", lr="10.0")
    p = faultlens("lint", "nb.ipynb", "--diff", cwd=tmp_path)
    assert p.stdout.startswith("--- a/nb.ipynb (cell 4)\n+++ b/nb.ipynb (cell 4)\n@@ -1,3 +1,3 @@\n")
    assert "-opt = torch.optim.SGD(model.parameters(), lr=10.0)\n+opt = torch.optim.SGD(model.parameters(), lr=0.01)" \
        in p.stdout


def test_lint_directory_finds_notebooks_not_checkpoints(tmp_path):
    write_nb(tmp_path / "nb.ipynb", lr="10.0")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    write_nb(tmp_path / ".ipynb_checkpoints" / "nb-checkpoint.ipynb", lr="10.0")
    p = faultlens("lint", ".", cwd=tmp_path)
    assert p.stdout.count("FL012") == 1 and "nb.ipynb:cell 4:line 2" in p.stdout


def test_syntax_error_names_cell_and_line(tmp_path):
    path = write_nb(tmp_path / "nb.ipynb")
    nb = nbformat.read(str(path), as_version=4)
    nb.cells[3].source = "x = 1\nfor i in range(3)\n    pass"
    nbformat.write(nb, str(path))
    for cmd in (["lint", "nb.ipynb"], ["graph", "nb.ipynb"], ["run", "nb.ipynb", "--out", "rundir"]):
        p = faultlens(*cmd, cwd=tmp_path)
        no_traceback(p)
        assert p.returncode == 2, (cmd, p.stderr)
        assert "cell 4:line 2" in p.stderr and "expected ':'" in p.stderr, p.stderr
    assert not (tmp_path / "rundir").exists()


def test_bad_notebook_is_one_line(tmp_path):
    (tmp_path / "bad.ipynb").write_text("{not json")
    for cmd in ("lint", "run"):
        p = faultlens(cmd, "bad.ipynb", cwd=tmp_path)
        no_traceback(p)
        assert p.returncode == 2 and "bad.ipynb: cannot parse: not a notebook: not valid JSON" in p.stderr


def test_lint_of_python_files_never_imports_nbformat(tmp_path):
    (tmp_path / "t.py").write_text("import torch\nopt = torch.optim.SGD([], lr=10.0)\n")
    code = ("import sys; from faultlens.cli import main; main(['lint', 't.py', '--no-cache']); "
            "print('NB', 'nbformat' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=120)
    assert "NB False" in p.stdout, p.stdout + p.stderr


# ------------------------------------------------------------------ JSON editing
def test_replace_sources_keeps_every_other_byte():
    raw = ('{"cells": [{"cell_type": "code", "source": "a = 1\\nb = 2", "outputs": [{"x": 1}], '
           '"metadata": {"k": "\\u00e9"}, "execution_count": 4},\n {"cell_type": "markdown", "source": ["# t\\n", "u"], '
           '"metadata": {}}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    out = replace_sources(raw, {1: "a = 1\nb = 3"})
    assert out == raw.replace('"a = 1\\nb = 2"', '"a = 1\\nb = 3"')
    out2 = replace_sources(raw, {2: "# t\nv"})
    assert out2 == raw.replace('["# t\\n", "u"]', '["# t\\n", "v"]')


# ------------------------------------------------------------------ run
@pytest.mark.slow
def test_run_clean_notebook_is_healthy(tmp_path):
    write_nb(tmp_path / "nb.ipynb")
    p = faultlens("run", "nb.ipynb", "--max-seconds", "90", "--seed", "0", "--json", "r.json", cwd=tmp_path)
    no_traceback(p)
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["verdict"] == "healthy" and p.returncode == 0, p.stdout[-2000:]
    assert rep["program"] == "nb.ipynb"
    assert any("cell 2:line 1: line magic %matplotlib inline" in n for n in rep["notes"])
    assert "faultlens: note: 2 non-Python line(s)" in p.stderr


@pytest.mark.slow
def test_run_faulty_notebook_locates_lr_and_fix_edits_only_the_cell(tmp_path):
    path = write_nb(tmp_path / "nb.ipynb", lr="10.0")
    before = path.read_text()
    p = faultlens("run", "nb.ipynb", "--max-seconds", "90", "--seed", "0", "--no-check", "--json", "r.json",
                  "--sarif", "r.sarif", "--fix", cwd=tmp_path)
    no_traceback(p)
    assert p.returncode == 1, p.stdout[-2000:] + p.stderr[-2000:]
    rep = json.loads((tmp_path / "r.json").read_text())
    top = rep["faults"][0]
    assert rep["verdict"] == "faulty" and top["type"] == "learning_rate"
    loc = top["locations"][0]
    assert (loc["path"], loc["cell"], loc["cell_line"]) == ("nb.ipynb", 4, 2)
    assert "nb.ipynb:cell 4:line 2:" in p.stdout
    assert top["patch"]["diff"].count("--- a/nb.ipynb (cell 4)") == 1
    sarif = json.loads((tmp_path / "r.sarif").read_text())
    r0 = sarif["runs"][0]["results"][0]
    assert r0["locations"][0]["properties"] == {"cell": 4, "cell_line": 2}
    # --fix: only cell 4's source changed; outputs, metadata, execution counts untouched
    after = path.read_text()
    old, new = json.loads(before), json.loads(after)
    assert "lr=10.0" not in "".join(new["cells"][3]["source"])
    for i, (a, b) in enumerate(zip(old["cells"], new["cells"])):
        assert {k: v for k, v in a.items() if k != "source"} == {k: v for k, v in b.items() if k != "source"}
        if i != 3:
            assert a == b
    assert old["metadata"] == new["metadata"]
    assert "".join(new["cells"][1]["outputs"][0]["text"]) == "hello\n" and new["cells"][1]["execution_count"] == 1
    nbformat.validate(nbformat.reads(after, as_version=4))
    # every byte outside cell 4's source is as it was
    s = before.index('"opt = torch.optim.SGD')
    assert after[:s] == before[:s]
    assert after.endswith(before[before.index('"loss_fn = nn.CrossEntropyLoss()"'):])


@pytest.mark.slow
def test_run_crash_in_a_cell_and_local_files(tmp_path):
    """Runs in the notebook's directory: a relative data file and a local module are found;
    the crash is named by cell and line."""
    d = tmp_path / "nbdir"
    d.mkdir()
    (d / "helpers.py").write_text("SCALE = 2\n")
    (d / "data.txt").write_text("1\n")
    path = write_nb(d / "nb.ipynb", logits="model(xb).t()")
    nb = nbformat.read(str(path), as_version=4)
    nb.cells.insert(2, nbformat.v4.new_code_cell("from helpers import SCALE\nprint(open('data.txt').read(), SCALE)"))
    nbformat.write(nb, str(path))
    p = faultlens("run", "nbdir/nb.ipynb", "--max-seconds", "60", "--json", "r.json", cwd=tmp_path)
    assert "faultlens: error" not in p.stderr, p.stderr  # the program's own traceback is streamed
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["verdict"] == "crashed", p.stdout[-2000:]
    c = rep["crash"]
    assert (c["path"], c["cell"], c["cell_line"]) == (os.path.join("nbdir", "nb.ipynb"), 6, 5)
    assert "crashed at nbdir/nb.ipynb:cell 6:line 5" in p.stdout
