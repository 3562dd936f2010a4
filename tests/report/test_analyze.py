"""``faultlens analyze``: files, entry points, JSON, combined diff; bad input (no training)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from faultlens.api import analyze, find_python_files

FIX = Path(__file__).parents[1] / "localizer" / "fixtures"


def _repo(tmp_path):
    (tmp_path / "pkg").mkdir()
    shutil.copy(FIX / "nll_seq.py", tmp_path / "nll_seq.py")
    (tmp_path / "pkg" / "util.py").write_text("def helper(x):\n    return x + 1\n")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "skip.py").write_text("import torch\n")
    return tmp_path


def test_analyze_repository(tmp_path):
    repo = _repo(tmp_path)
    files = find_python_files(str(repo))
    assert all(".venv" not in f for f in files) and len(files) == 2
    res = analyze(str(repo))
    eps = [Path(p).name for p in res.entry_points]
    assert eps == ["nll_seq.py"]  # module-level loop with backward and step
    d = res.to_dict()
    assert d["schema"] == "faultlens.analysis/1" and {f["path"] for f in d["files"]} == set(files)


def test_analyze_cli_json_and_diff(tmp_path):
    repo = _repo(tmp_path)
    p = subprocess.run([sys.executable, "-m", "faultlens", "analyze", str(repo), "--format", "json"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    d = json.loads(p.stdout)
    assert d["entry_points"] and p.returncode in (0, 1)
    p = subprocess.run([sys.executable, "-m", "faultlens", "analyze", "nll_seq.py", "--diff"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    if p.stdout.strip():  # lint fixes, as an annotated diff that applies
        (tmp_path / "x.diff").write_text(p.stdout)
        subprocess.run(["git", "init", "-q", "."], cwd=tmp_path, check=True)
        r = subprocess.run(["git", "apply", "--check", "x.diff"], cwd=tmp_path, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr + p.stdout


def test_analyze_bad_path(tmp_path):
    p = subprocess.run([sys.executable, "-m", "faultlens", "analyze", str(tmp_path / "nope")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and p.stderr.startswith("faultlens: error:") and "Traceback" not in p.stderr
