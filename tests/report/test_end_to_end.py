"""End to end: ``faultlens run`` on the buggy examples (slow: each trains for a few seconds)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "corpora" / "examples"


def _run(tmp_path, name, *extra):
    out = tmp_path / f"{name}.json"
    cmd = [sys.executable, "-m", "faultlens", "run", str(EXAMPLES / name), "--quiet", "--json", str(out),
           "--max-seconds", "60", "--out", str(tmp_path / name), *extra]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert out.exists(), p.stdout[-2000:] + p.stderr[-3000:]
    return p, json.loads(out.read_text())


def _line_of(path: Path, pattern: str) -> int:
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        if re.search(pattern, line):
            return i
    raise AssertionError(pattern)


@pytest.mark.slow
@pytest.mark.skipif(not (EXAMPLES / "demo_lr_too_high.py").exists(), reason="example not present")
def test_run_lr_too_high(tmp_path):
    p, d = _run(tmp_path, "demo_lr_too_high.py", "--diff", "--verify")
    assert p.returncode == 1, p.stderr[-2000:]
    assert d["verdict"] == "faulty" and d["faults"][0]["type"] == "learning_rate"
    want = _line_of(EXAMPLES / "demo_lr_too_high.py", r'add_argument\("--lr"')
    assert want in [l["line"] for l in d["faults"][0]["locations"]]
    patch = d["faults"][0]["patch"]
    assert patch["diff"] in p.stdout  # --diff prints the annotated diff
    # --verify re-ran the patched copy under the same budget
    assert patch["verified"] is True, patch.get("verification")
    assert patch["verification"]["loss_after"] < patch["verification"]["loss_before"]


@pytest.mark.slow
@pytest.mark.skipif(not (EXAMPLES / "missing_zero_grad.py").exists(), reason="example not present")
def test_run_missing_zero_grad(tmp_path):
    p, d = _run(tmp_path, "missing_zero_grad.py")
    assert d["verdict"] == "faulty" and d["faults"][0]["type"] == "training_loop"
    roles = {(l["role"], l["line"]) for l in d["faults"][0]["locations"]}
    back = _line_of(EXAMPLES / "missing_zero_grad.py", r"^\s+loss\.backward\(\)")
    assert any(r == "insertion_point" and line < back for r, line in roles), (roles, back)
    assert "optimizer.zero_grad()" in d["faults"][0]["patch"]["diff"]
