"""The `faultlens lint` command: formats, exit codes, suppression, diff, cache, jobs, bad input."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from faultlens.analyzer.lint.rules.fl001_softmax_cross_entropy import SoftmaxBeforeCrossEntropy
from faultlens.analyzer.lint.rules.fl005_missing_zero_grad import MissingZeroGrad
from faultlens.analyzer.lint.rules.fl013_dropout_high import DropoutTooHigh
from faultlens.cli import main

BUGGY = SoftmaxBeforeCrossEntropy.INVALID[0].source      # FL001 at line 13 (error)
NO_ZERO_GRAD = MissingZeroGrad.INVALID[0].source         # FL005 at line 11 (error)
WARN_ONLY = DropoutTooHigh.INVALID[0].source             # FL013 (warning)
CLEAN = SoftmaxBeforeCrossEntropy.VALID[0].source


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FAULTLENS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def run_cli(capsys, *argv):
    rc = main(["lint", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_text_output_and_exit_code(tmp_path, capsys):
    write(tmp_path / "train.py", BUGGY)
    rc, out, err = run_cli(capsys, "train.py")
    assert rc == 1
    lines = out.splitlines()
    assert any(l.startswith("train.py:13:") and " FL001 " in l for l in lines), out
    assert "Found" in err and "1 error" in err


def test_clean_program_exit_zero(tmp_path, capsys):
    write(tmp_path / "ok.py", CLEAN)
    rc, out, err = run_cli(capsys, "ok.py")
    assert rc == 0 and out == ""
    assert "No problems found" in err


def test_fail_on_levels(tmp_path, capsys):
    write(tmp_path / "w.py", WARN_ONLY)
    assert run_cli(capsys, "w.py")[0] == 0                       # default: errors only
    assert run_cli(capsys, "w.py", "--fail-on", "warning")[0] == 1
    write(tmp_path / "e.py", BUGGY)
    assert run_cli(capsys, "e.py", "--fail-on", "never")[0] == 0


def test_select_and_ignore(tmp_path, capsys):
    write(tmp_path / "t.py", BUGGY)
    rc, out, _ = run_cli(capsys, "t.py", "--select", "FL005")
    assert rc == 0 and out == ""
    rc, out, _ = run_cli(capsys, "t.py", "--ignore", "FL001")
    assert "FL001" not in out
    rc, out, _ = run_cli(capsys, "t.py", "--select", "FL00")  # prefix
    assert "FL001" in out
    rc, _, err = run_cli(capsys, "t.py", "--select", "FL999")
    assert rc == 2 and "unknown rule code" in err and "Traceback" not in err


def test_json_format(tmp_path, capsys):
    write(tmp_path / "t.py", BUGGY)
    rc, out, _ = run_cli(capsys, "t.py", "--format", "json")
    data = json.loads(out)
    assert rc == 1
    f = [x for x in data["findings"] if x["code"] == "FL001"][0]
    assert {"code", "name", "severity", "message", "path", "line", "column", "end_line", "end_column",
            "node", "fix"} <= set(f)
    assert f["path"] == "t.py" and f["line"] == 13 and f["severity"] == "error"
    assert f["node"] and f["node"].startswith("op:")
    assert data["summary"]["errors"] >= 1


def test_sarif_format(tmp_path, capsys):
    write(tmp_path / "t.py", BUGGY)
    rc, out, _ = run_cli(capsys, "t.py", "--format", "sarif")
    sarif = json.loads(out)
    assert sarif["version"] == "2.1.0" and "sarif" in sarif["$schema"]
    run = sarif["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert run["tool"]["driver"]["name"] == "faultlens"
    assert len(rules) >= 15
    for r in rules:
        assert r["id"].startswith("FL") and r["shortDescription"]["text"] and r["help"]["text"]
        assert r["defaultConfiguration"]["level"] in ("error", "warning", "note")
    res = [r for r in run["results"] if r["ruleId"] == "FL001"][0]
    assert res["level"] == "error" and res["message"]["text"]
    assert rules[res["ruleIndex"]]["id"] == "FL001"
    loc = res["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "t.py"
    reg = loc["region"]
    assert reg["startLine"] == 13 and reg["startColumn"] >= 1
    assert reg["endLine"] >= reg["startLine"] and reg["endColumn"] >= 1


def test_inline_suppression(tmp_path, capsys):
    lines = BUGGY.splitlines()
    lines[12] += "  # faultlens: ignore[FL001]"
    write(tmp_path / "a.py", "\n".join(lines) + "\n")
    rc, out, _ = run_cli(capsys, "a.py")
    assert "FL001" not in out and rc == 0
    lines = BUGGY.splitlines()
    lines[12] += "  # faultlens: ignore"
    write(tmp_path / "b.py", "\n".join(lines) + "\n")
    assert "FL001" not in run_cli(capsys, "b.py")[1]
    lines = BUGGY.splitlines()
    lines[12] += "  # faultlens: ignore[FL005]"  # other code: still reported
    write(tmp_path / "c.py", "\n".join(lines) + "\n")
    assert "FL001" in run_cli(capsys, "c.py")[1]


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_diff_is_git_applicable(tmp_path, capsys):
    write(tmp_path / "t.py", NO_ZERO_GRAD)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    rc, out, _ = run_cli(capsys, "t.py", "--diff")
    assert out.startswith("--- a/t.py\n+++ b/t.py\n")
    assert "+    optimizer.zero_grad()" in out
    (tmp_path / "fix.patch").write_text(out)
    subprocess.run(["git", "apply", "--check", "fix.patch"], cwd=tmp_path, check=True)
    subprocess.run(["git", "apply", "fix.patch"], cwd=tmp_path, check=True)
    rc2, out2, _ = run_cli(capsys, "t.py", "--select", "FL005")
    assert rc2 == 0 and out2 == ""


def test_directory_walk_skips_vendored_dirs(tmp_path, capsys):
    write(tmp_path / "proj" / "train.py", BUGGY)
    for d in (".venv", "venv", "node_modules", "__pycache__", ".git", "site-packages"):
        write(tmp_path / "proj" / d / "bad.py", BUGGY)
    rc, out, _ = run_cli(capsys, "proj")
    paths = {l.split(":")[0] for l in out.splitlines()}
    assert paths == {os.path.join("proj", "train.py")}


def test_cache_and_jobs_give_identical_results(tmp_path, capsys):
    for i in range(3):
        write(tmp_path / "repo" / f"t{i}.py", BUGGY if i % 2 == 0 else NO_ZERO_GRAD)
    write(tmp_path / "repo" / "util.py", "import os\n\ndef f():\n    return os.sep\n")
    cold = run_cli(capsys, "repo", "--jobs", "2")
    warm = run_cli(capsys, "repo", "--jobs", "2")
    serial = run_cli(capsys, "repo", "--no-cache", "--jobs", "1")
    assert cold[1] == warm[1] == serial[1] and cold[0] == warm[0] == serial[0] == 1
    assert "3 from cache" in warm[2]
    assert os.listdir(tmp_path / "cache")
    # editing a file invalidates its entry
    write(tmp_path / "repo" / "t0.py", CLEAN)
    after = run_cli(capsys, "repo")
    assert "t0.py" not in after[1] and "2 from cache" in after[2]


@pytest.mark.parametrize("name,content,reason", [
    ("syntax.py", b"import torch\ndef f(:\n    pass\n", "syntax error at line 2"),
    ("latin1.py", b"import torch\nname = '\xe9t\xe9'\n", "not UTF-8"),
    ("binary.py", b"import torch\x00\x01\x02\xff", "binary file"),
])
def test_bad_input_one_line_and_continue(tmp_path, capsys, name, content, reason):
    (tmp_path / name).write_bytes(content)
    write(tmp_path / "good.py", BUGGY)
    rc, out, err = run_cli(capsys, name, "good.py")
    lines = [l for l in err.splitlines() if l.startswith(name)]
    assert lines == [l for l in lines if l.startswith(f"{name}: cannot parse: ")] and len(lines) == 1, err
    assert reason in lines[0]
    assert "Traceback" not in err
    assert "good.py:13:" in out and rc == 1            # the other file was still linted
    rc, out, err = run_cli(capsys, name)
    assert rc == 2 and "Traceback" not in err           # nothing could be read


def test_huge_file_cap(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FAULTLENS_LINT_MAX_BYTES", "1000")
    write(tmp_path / "big.py", "import torch\n" + "x = 1\n" * 400)
    rc, out, err = run_cli(capsys, "big.py")
    assert rc == 2 and "big.py: cannot parse: file is" in err and "limit" in err


def test_empty_and_non_dl_files(tmp_path, capsys):
    write(tmp_path / "empty.py", "")
    write(tmp_path / "plain.py", "import os\nprint(os.getcwd())\n")
    rc, out, err = run_cli(capsys, "empty.py", "plain.py")
    assert rc == 0 and out == ""
    assert "empty.py: skipped: empty file" in err
    assert "plain.py: skipped: imports no deep-learning framework" in err


def test_missing_path_and_no_paths(tmp_path, capsys):
    rc, _, err = run_cli(capsys, "nope.py")
    assert rc == 2 and "nope.py: cannot read" in err
    rc, _, err = run_cli(capsys)
    assert rc == 2 and "faultlens: error:" in err


def test_lint_does_not_import_torch_or_sklearn(tmp_path):
    f = write(tmp_path / "t.py", BUGGY)
    code = ("import sys; from faultlens.cli import main; rc = main(['lint', '--no-cache', sys.argv[1]]); "
            "assert rc == 1, rc; "
            "bad = [m for m in ('torch', 'sklearn') if m in sys.modules]; assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code, str(f)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_library_api(tmp_path):
    from faultlens.analyzer.lint import lint_paths

    write(tmp_path / "t.py", BUGGY)
    found = lint_paths([str(tmp_path / "t.py")], select=["FL001"], use_cache=False)
    assert [f.code for f in found] == ["FL001"]
    d = found[0].to_dict()
    assert d["fix"]["edits"] and d["fix"]["description"]
    # the package-level entry function names the same stage
    import faultlens

    assert [f.code for f in faultlens.lint(str(tmp_path / "t.py"), select=["FL001"], use_cache=False)] == ["FL001"]


def test_pre_commit_hook_definition(repo_root):
    text = (repo_root / ".pre-commit-hooks.yaml").read_text()
    yaml = pytest.importorskip("yaml")
    hooks = yaml.safe_load(text)
    hook = [h for h in hooks if h["id"] == "faultlens-lint"][0]
    assert hook["entry"] == "faultlens lint" and hook["language"] == "python" and hook["types"] == ["python"]


def test_cache_invalidated_by_imported_module(tmp_path, capsys):
    model = textwrap.dedent("""
        import torch.nn as nn
        import torch.nn.functional as F

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 3)

            def forward(self, x):
                return F.softmax(self.fc(x), dim=1)
        """)
    train = textwrap.dedent("""
        import torch
        import torch.nn as nn
        from model import Net

        model = Net()
        criterion = nn.CrossEntropyLoss()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
        for epoch in range(3):
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
        """)
    write(tmp_path / "proj" / "pyproject.toml", "")
    write(tmp_path / "proj" / "model.py", model)
    write(tmp_path / "proj" / "train.py", train)
    rc, out, _ = run_cli(capsys, os.path.join("proj", "train.py"))
    assert rc == 1 and os.path.join("proj", "model.py") + ":11:" in out and "FL001" in out
    write(tmp_path / "proj" / "model.py", model.replace("F.softmax(self.fc(x), dim=1)", "self.fc(x)"))
    rc, out, err = run_cli(capsys, os.path.join("proj", "train.py"))
    assert rc == 0 and out == "", out


def test_damaged_cache_entry_is_a_miss(tmp_path, capsys):
    write(tmp_path / "t.py", BUGGY)
    first = run_cli(capsys, "t.py")
    for dirpath, _, names in os.walk(tmp_path / "cache"):
        for n in names:
            (Path(dirpath) / n).write_text('{"path": 1, "findings": [{"code": "FL001"}]}')
    again = run_cli(capsys, "t.py")
    assert again[0] == first[0] == 1 and again[1] == first[1]
    assert "Traceback" not in again[2]
